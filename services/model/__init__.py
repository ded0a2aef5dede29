"""The population RNN model: P independent networks in one module, its regulariser and expm.

Import from the submodules (`population`, `regularizer`, `expm`, `config`); this package
stays light so that `config` (used by the spec and the client) never pulls in torch.
"""
