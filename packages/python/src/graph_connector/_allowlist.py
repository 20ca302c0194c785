"""Which hosts a connection's component may send requests to.

The same policy as the reference host (`host/src/sandbox/http_policy.rs`): the hosts of
the connection's national cloud, plus the hosts the caller allows explicitly. Endpoint
overrides in a configuration (`graphBaseUrl`, `loginBaseUrl`, `tokenUrl`) are not
trusted on their own: a configuration could otherwise send its secret anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ._errors import ConnectorError

#: The hosts of each national cloud, keyed by the `cloud` member of the connection
#: settings (`global` when absent): the identity endpoint, then the Graph endpoint. The
#: reference host keeps the same table (`CLOUD_HOSTS`).
CLOUD_HOSTS: dict[str, tuple[str, ...]] = {
    "global": ("login.microsoftonline.com", "graph.microsoft.com"),
    "usgov": ("login.microsoftonline.us", "graph.microsoft.us"),
    "usgovDod": ("login.microsoftonline.us", "dod-graph.microsoft.us"),
    "china": ("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn"),
}


@dataclass(frozen=True)
class HostPattern:
    """One allowed destination: a host name, and optionally the only port allowed on it."""

    host: str
    port: Optional[int] = None

    @classmethod
    def parse(cls, pattern: Any) -> HostPattern:
        """Parses `HOST` or `HOST:PORT` (IPv6 hosts in brackets: `[::1]:8080`)."""

        def invalid(reason: str) -> ConnectorError:
            return ConnectorError("invalid-config", f"`allow_hosts` entry {pattern!r}: {reason}")

        if not isinstance(pattern, str):
            raise invalid("must be a string such as `graph.example` or `127.0.0.1:8080`")
        if "://" in pattern or "/" in pattern:
            raise invalid("give a host name, not a URL")
        host, port = split_authority(pattern.strip())
        if not host:
            raise invalid("the host is empty")
        if port == -1:
            raise invalid("the port must be a number from 1 to 65535")
        return cls(host.lower(), port)

    def permits(self, host: str, port: int) -> bool:
        """Whether a request to `host` on `port` fits this pattern."""
        return host.lower() == self.host and (self.port is None or self.port == port)

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


def split_authority(authority: str) -> tuple[str, Optional[int]]:
    """Splits `host[:port]`; the port is None when absent and -1 when malformed."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return "", None
        host, rest = authority[: end + 1], authority[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return host, -1
        port_text = rest[1:]
    elif ":" in authority:
        host, port_text = authority.rsplit(":", 1)
    else:
        return authority, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return host, -1
    return host, int(port_text)


class AllowedHosts:
    """The destinations one connection may reach."""

    def __init__(self, patterns: Iterable[HostPattern]) -> None:
        self.patterns: tuple[HostPattern, ...] = tuple(dict.fromkeys(patterns))

    @classmethod
    def for_connection(cls, config: dict[str, Any], allow_hosts: Iterable[Any]) -> AllowedHosts:
        """The cloud's own hosts for `config`, plus `allow_hosts`."""
        if isinstance(allow_hosts, str):
            raise ConnectorError("invalid-config", "`allow_hosts` must be a list of hosts, not a single string")
        extra = [HostPattern.parse(pattern) for pattern in allow_hosts]
        cloud = config.get("cloud")
        if cloud is None:
            cloud = "global"
        # An unknown or malformed cloud gets no hosts of its own; the component then
        # refuses the configuration with a typed error naming `cloud`.
        own = CLOUD_HOSTS.get(cloud, ()) if isinstance(cloud, str) else ()
        return cls([HostPattern(host) for host in own] + extra)

    def permits(self, authority: Optional[str], scheme: Optional[str] = None) -> bool:
        """Whether a request to `authority` (`host[:port]` as the component set it) with
        `scheme` (`HTTP`, `HTTPS`, None: wasi-http's default, HTTPS) may leave. Without a
        port in the authority, the scheme's default port is the one compared."""
        if not authority:
            return False
        host, port = split_authority(authority)
        if not host or port == -1:
            return False
        if port is None:
            port = 80 if scheme == "HTTP" else 443
        return any(pattern.permits(host, port) for pattern in self.patterns)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.patterns)
