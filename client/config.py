"""Where the client finds its server and token.

Order, first found wins:
  url:   --url, CORTEXRNN_URL, the user config file (`login`), the embedded server's address
         (CORTEXRNN_API_HOST / CORTEXRNN_API_PORT, else the address a running `cortexrnn
         serve` recorded in $CORTEXRNN_HOME/local_server.json, default 127.0.0.1:8765)
  token: --token, CORTEXRNN_TOKEN, the user config file (only for the URL it was stored
         with, so a token is never sent to another server), the embedded server's local
         admin token ($CORTEXRNN_HOME/local_token, only for a loopback URL)
The user config file is $CORTEXRNN_CLIENT_CONFIG or $XDG_CONFIG_HOME/cortexrnn/client.json
(~/.config/cortexrnn/client.json), written with mode 0600 because it holds a secret.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cortexrnn.client.errors import UsageError
from cortexrnn.wire import embedded

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str | None
    user: str | None = None  # the user name the token belongs to, when known (for `list --mine`)
    url_source: str = "default"
    token_source: str = "none"
    # Said when the server cannot be reached: e.g. that a recorded server has stopped.
    note: str | None = None


def config_path() -> Path:
    explicit = os.environ.get("CORTEXRNN_CLIENT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "cortexrnn" / "client.json"


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--url / CORTEXRNN_URL: {url!r} is not an http(s) address like http://host:8765"
        )
    return url


def read_user_config(path: Path | None = None) -> dict[str, str]:
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path}: unreadable client config ({exc}); "
            "fix it or run `cortexrnn-client login` again"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(
            f"{path}: the client config must be a JSON object; run `cortexrnn-client login` again"
        )
    return {k: str(v) for k, v in data.items() if isinstance(v, str | int)}


def write_user_config(
    url: str, token: str, user: str | None = None, path: Path | None = None
) -> Path:
    """Store url and token for later commands; the file is created 0600 (never world-readable)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"url": normalise_url(url), "token": token}
    if user:
        data["user"] = user
    # Create with 0600 from the start: a chmod after writing would leave a window where the
    # token is readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(path, 0o600)
    return path


def embedded_address() -> tuple[str, str, str | None]:
    """The embedded server's address, where it came from, and a note when a recorded server
    was passed over because it has stopped."""
    host_env = os.environ.get("CORTEXRNN_API_HOST")
    port_env = os.environ.get("CORTEXRNN_API_PORT")
    host = host_env or embedded.DEFAULT_API_HOST
    port = port_env or str(embedded.DEFAULT_API_PORT)
    if host_env or port_env:
        return embedded.connect_address(host, port), "CORTEXRNN_API_HOST/PORT", None
    record = embedded.read_server_record()
    if record is None:
        return embedded.connect_address(host, port), "embedded default", None
    if record.is_running():
        return record.url, str(record.path), None
    note = (
        f"{record.path} names a server at {record.url} (process {record.pid} on "
        f"{record.host}) that is no longer running; ignored it"
    )
    return embedded.connect_address(host, port), "embedded default", note


def embedded_url() -> str:
    return embedded_address()[0]


def local_token_file() -> Path:
    """The embedded server's admin token file (where `cortexrnn serve` writes it:
    $CORTEXRNN_HOME/local_token, by the rule in cortexrnn.wire.embedded)."""
    return embedded.local_token_path()


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


def resolve(url: str | None = None, token: str | None = None) -> ClientConfig:
    stored = read_user_config()
    note = None
    if url:
        final_url, url_source = normalise_url(url), "--url"
    elif os.environ.get("CORTEXRNN_URL"):
        final_url, url_source = normalise_url(os.environ["CORTEXRNN_URL"]), "CORTEXRNN_URL"
    elif stored.get("url"):
        final_url, url_source = normalise_url(stored["url"]), str(config_path())
    else:
        final_url, url_source, note = embedded_address()

    user = None
    stored_matches = bool(stored.get("url")) and normalise_url(stored["url"]) == final_url
    if token:
        final_token, token_source = token.strip(), "--token"
    elif os.environ.get("CORTEXRNN_TOKEN"):
        final_token, token_source = os.environ["CORTEXRNN_TOKEN"].strip(), "CORTEXRNN_TOKEN"
    elif stored.get("token") and stored_matches:
        final_token, token_source = stored["token"], str(config_path())
        user = stored.get("user")
    else:
        final_token, token_source = None, "none"
        if is_loopback(final_url):
            path = local_token_file()
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError:
                text = ""
            if text:
                final_token, token_source, user = text, str(path), embedded.LOCAL_ADMIN
    if stored_matches and user is None and token_source != "none":
        user = stored.get("user") if final_token == stored.get("token") else None
    return ClientConfig(final_url, final_token, user, url_source, token_source, note)
