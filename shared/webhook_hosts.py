"""Which hosts a webhook may be sent to: the operator's allow-list
(CORTEXRNN_WEBHOOK_ALLOWED_HOSTS, docs/operations.md).

A webhook is a POST that the server makes on a user's behalf, from inside the lab's network:
without a limit any user could make the API and the workers call internal services (the
database host, a cloud metadata address, an admin page on localhost). So the default,
"external", lets webhooks reach only hosts whose every address is public; internal receivers
must be named by the operator. The list is checked at submission (a 422 naming `webhook`) and
again just before sending, since the operator's list or the name's addresses may have
changed in between. Redirects are not followed (httpx's default), so an allowed host cannot
bounce the notice elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

ANY = "*"
EXTERNAL = "external"
SETTING = "CORTEXRNN_WEBHOOK_ALLOWED_HOSTS"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def addresses(host: str) -> list[Address]:
    """The host's addresses: itself when it is an IP, else what the resolver answers
    (OSError when nothing does). The resolver also reads odd spellings ("2130706433" is
    127.0.0.1), which is why names are resolved rather than parsed."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    found = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    # IPv6 answers may carry a zone ("fe80::1%eth0"), which ip_address does not take.
    return [ipaddress.ip_address(str(a).split("%", 1)[0]) for a in sorted(found)]


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def webhook_refusal(url: str, patterns: Sequence[str]) -> str | None:
    """None when the allow-list `patterns` lets a webhook go to `url`'s host; else why not,
    in words that name the allowed hosts and the setting."""
    allowed = f"allowed: {', '.join(patterns)} ({SETTING})"
    if not patterns:
        return f"this server sends no webhooks ({SETTING} is empty)"
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return f"webhook {url!r} names no host"
    if any(p == ANY or (p != EXTERNAL and fnmatchcase(host, p)) for p in patterns):
        return None
    if EXTERNAL not in patterns:
        return f"webhook host {host!r} is not on this server's allow-list; {allowed}"
    try:
        found = addresses(host)
    except OSError as exc:
        return f"webhook host {host!r} could not be resolved ({exc}); {allowed}"
    internal = [a for a in found if not _public(a)]
    if internal or not found:
        return (
            f"webhook host {host!r} is an internal address ({internal[0] if internal else '?'})"
            f", not an external one; internal receivers must be named by the operator; "
            f"{allowed}"
        )
    return None
