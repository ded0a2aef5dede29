"""Population trainer: P networks at once, checkpoints, divergence, callbacks.

Import from the submodules (`trainer`, `results`, `config`); this package stays light so
that `config` (used by the spec and the client) never pulls in torch.
"""
