"""Where the embedded deployment keeps what its client must find: the home folder, the local
admin's token file and the default address. The server writes them (cortexrnn.shared.settings,
cortexrnn.shared.local_auth), the client reads them (cortexrnn.client.config); both take the
rules from here. Standard library only.

    home:   $CORTEXRNN_HOME, else ~/.cortexrnn
    token:  <home>/local_token, belonging to the admin user `local`
    server: $CORTEXRNN_API_HOST:$CORTEXRNN_API_PORT, else the address a running
            `cortexrnn serve` recorded in <home>/local_server.json, default 127.0.0.1:8765
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "CORTEXRNN_HOME"
DEFAULT_HOME_NAME = ".cortexrnn"
LOCAL_TOKEN_FILE = "local_token"
LOCAL_SERVER_FILE = "local_server.json"
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


@dataclass(frozen=True)
class ServerRecord:
    """What a running embedded server wrote: its address, process and host."""

    path: Path
    url: str
    pid: int
    host: str

    def is_running(self) -> bool:
        """The recording process still exists on this host. A record from another host (a
        home folder on a shared disk) cannot be checked and names a loopback address that is
        not this machine's, so it counts as not running."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, belongs to another user
            return True
        return True


def local_server_path(home: Path | None = None) -> Path:
    return (home if home is not None else embedded_home()) / LOCAL_SERVER_FILE


def connect_address(host: str, port: int | str) -> str:
    """The URL a client on this machine uses for a server bound to host:port (a bind-all
    address is reached over loopback)."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def record_server(host: str, port: int, home: Path | None = None) -> Path:
    """Written by `cortexrnn serve` once it knows its port, so that a client started without
    --url finds a server on a port other than the default."""
    path = local_server_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"url": connect_address(host, port), "pid": os.getpid(), "host": socket.gethostname()}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def forget_server(home: Path | None = None) -> None:
    """Removed by the server that wrote it when it stops (another server's record stays)."""
    record = read_server_record(home)
    if record is not None and record.pid == os.getpid():
        record.path.unlink(missing_ok=True)


def read_server_record(home: Path | None = None) -> ServerRecord | None:
    """The recorded server, running or not; None when there is no readable record."""
    path = local_server_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServerRecord(path, str(data["url"]), int(data["pid"]), str(data["host"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
