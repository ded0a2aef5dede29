"""Where the embedded deployment keeps what its client must find: the home folder, the local
admin's token file and the default address. The server writes them (cortexrnn.shared.settings,
cortexrnn.shared.local_auth), the client reads them (cortexrnn.client.config); both take the
rules from here. Standard library only.

    home:   $CORTEXRNN_HOME, else ~/.cortexrnn
    token:  <home>/local_token, belonging to the admin user `local`
    server: $CORTEXRNN_API_HOST:$CORTEXRNN_API_PORT, default 127.0.0.1:8765
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CORTEXRNN_HOME"
DEFAULT_HOME_NAME = ".cortexrnn"
LOCAL_TOKEN_FILE = "local_token"
LOCAL_ADMIN = "local"
DEFAULT_API_HOST = "127.0.0.1"
DEFAULT_API_PORT = 8765


def default_home() -> Path:
    """The home folder when CORTEXRNN_HOME is not set: ~/.cortexrnn."""
    return Path.home() / DEFAULT_HOME_NAME


def _env(name: str) -> str | None:
    # The server reads its settings with pydantic-settings, which matches names without
    # regard to case; do the same so that both sides agree on the folder.
    if name in os.environ:
        return os.environ[name]
    return next((value for key, value in os.environ.items() if key.upper() == name), None)


def embedded_home() -> Path:
    """$CORTEXRNN_HOME (read now, not cached), else ~/.cortexrnn."""
    value = _env(HOME_ENV)
    return Path(value).expanduser() if value else default_home()


def local_token_path(home: Path | None = None) -> Path:
    """The local admin's token file in `home` (default: the embedded home)."""
    return (home if home is not None else embedded_home()) / LOCAL_TOKEN_FILE
