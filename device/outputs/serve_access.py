"""Who may watch `--serve`: a token whenever the server listens beyond this machine.

On loopback (127.0.0.1, ::1, localhost) only this machine can connect, so no token is
needed (one may still be given). Any other address needs one: `--serve-token`, the
environment variable `EDGECNN_SERVE_TOKEN`, or `--serve-token-file` (`EDGECNN_SERVE_TOKEN_FILE`).
A request shows it in one of three ways:

* `?token=...` in the URL (the page answers with a cookie and a redirect to the URL without
  it, so the token is typed once and does not stay in the address bar);
* the cookie (HttpOnly, SameSite=Strict): an HMAC of the token, not the token itself;
* `Authorization: Bearer ...` (scripts).

The token travels in clear over plain HTTP: it keeps the camera away from others on a
network you trust, it is no substitute for TLS across one you do not.

Whatever the address, a request must name this server (`RequestNames`): its `Host` is a
loopback name or address, the --serve host, this machine's host name (NAME, NAME.local), or
the address the client connected to. Another name means a browser was pointed at this port
through a name someone else controls (DNS rebinding: evil.example resolving to 127.0.0.1),
and is refused, as is an `Origin` that is not this server (a page elsewhere posting here).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

from edgecnn.device.outputs.secret_file import read_secret_file
from edgecnn.errors import EdgeCnnError

TOKEN_ENV = "EDGECNN_SERVE_TOKEN"
TOKEN_FILE_ENV = "EDGECNN_SERVE_TOKEN_FILE"
TOKEN_MIN_LENGTH = 16
COOKIE_NAME = "edgecnn_token"
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


def is_loopback(host: str) -> bool:
    """True when only this machine can reach `host` (a name counts when every address it
    resolves to is a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses
    )


def serve_token(token: str | None, token_file: str | Path | None) -> str | None:
    """The token from `--serve-token` or `--serve-token-file` (one of them), checked."""
    if token is not None and token_file is not None:
        raise EdgeCnnError(
            "--serve-token and --serve-token-file both given (or their environment variables "
            f"{TOKEN_ENV}, {TOKEN_FILE_ENV}): give one"
        )
    where = "--serve-token"
    if token_file is not None:
        where = f"--serve-token-file {token_file}"
        token = read_secret_file(token_file, "--serve-token-file")
    if token is None:
        return None
    token = token.strip()
    if len(token) < TOKEN_MIN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
        raise EdgeCnnError(
            f"{where}: the token must be at least {TOKEN_MIN_LENGTH} printable characters "
            f"without spaces: make one with {MAKE_TOKEN}"
        )
    return token


def require_token_beyond_loopback(host: str, port: int, token: str | None) -> None:
    if token is None and not is_loopback(host):
        raise EdgeCnnError(
            f"--serve {host}:{port} lets other machines watch the camera: give a token "
            f"(--serve-token-file FILE, or ${TOKEN_ENV}; make one with {MAKE_TOKEN}), "
            "or serve on 127.0.0.1"
        )


class TokenCheck:
    """Whether a request carries the token, and the cookie that stands for it."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("utf-8")
        self.cookie_value = hmac.new(
            self._token, b"edgecnn serve cookie", hashlib.sha256
        ).hexdigest()

    def matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8"), self._token)

    def accepts(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> bool:
        if any(self.matches(value) for value in query.get("token", [])):
            return True
        scheme, _, credentials = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and self.matches(credentials.strip()):
            return True
        try:
            cookie = SimpleCookie(headers.get("Cookie") or "").get(COOKIE_NAME)
        except CookieError:
            return False
        return cookie is not None and hmac.compare_digest(cookie.value, self.cookie_value)

    def set_cookie(self) -> str:
        """The Set-Cookie header value given once the page has seen the token."""
        return f"{COOKIE_NAME}={self.cookie_value}; Path=/; HttpOnly; SameSite=Strict"


WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def split_authority(value: str) -> tuple[str, int | None] | None:
    """`name:port`, `[v6]:port` or without the port -> (lower-case host, port); None when
    it is not a host."""
    value = value.strip().lower()
    if value.startswith("["):
        host, closed, rest = value[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        host, _, port = value.partition(":")
    if not host or (port and not port.isdigit()) or (port == "" and value.endswith(":")):
        return None
    return host.rstrip("."), int(port) if port else None


def machine_names() -> set[str]:
    """This machine's host name, short and with .local (mDNS), as a LAN browser types it."""
    name = socket.gethostname().lower().rstrip(".")
    short = name.split(".", 1)[0]
    return {n for n in (name, short, f"{short}.local") if n}


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in `text` (an IPv4 client of a dual-stack socket, ::ffff:a.b.c.d, as
    the IPv4 address it is), or None when it is a name."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


class RequestNames:
    """Whether a request's `Host` and `Origin` name this server."""

    def __init__(self, serve_host: str, extra_names: Iterable[str] = ()) -> None:
        names = {"localhost", *machine_names(), *(n.lower() for n in extra_names)}
        host = serve_host.strip("[]").lower()
        if host not in WILDCARD_HOSTS:
            names.add(host)
        self.names = frozenset(names)

    def allows_host(self, host_header: str | None, local_address: str | None = None) -> bool:
        """True for a Host that names this server (no Host at all, as HTTP/1.0 allows, too:
        a browser always sends one)."""
        if host_header is None:
            return True
        parsed = split_authority(host_header)
        if parsed is None:
            return False
        host = parsed[0]
        if host in self.names or host.endswith(".localhost"):
            return True
        address = _address(host)
        if address is None:
            return False
        local = _address(local_address) if local_address else None
        return address.is_loopback or address == local

    def allows_origin(self, origin: str | None, host_header: str | None) -> bool:
        """True when a request has no Origin (not a browser's cross-site request) or one that
        is this server as the Host header names it (the page itself)."""
        if origin is None:
            return True
        parts = urlsplit(origin.strip())
        host = split_authority(host_header or "")
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or host is None:
            return False
        try:
            origin_port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return False
        return (parts.hostname.rstrip("."), origin_port) == (
            host[0],
            host[1] or DEFAULT_PORTS[parts.scheme],
        )

    def describe(self) -> str:
        """The names, for the refusal's message."""
        return ", ".join(sorted(self.names)) + ", loopback addresses and this server's address"
