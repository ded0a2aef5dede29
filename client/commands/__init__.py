"""The `cortexrnn-client` commands, one module per group; cortexrnn.client.cli assembles them.

    account      login, logout, config, version
    experiments  submit, watch, status, list, cancel, retry, delete
    results      results, compare, report, download
    queue        queue
    datasets     datasets list | show | upload
    spec         spec template | validate
    replication  replication
    findings     findings

`common` holds what they share: the Client factory (CLIENT_OPTIONS, which tests fill with an
in-process transport), consoles and the table/csv/json output.
"""
