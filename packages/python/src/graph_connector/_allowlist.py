"""Which hosts a connection's component may send requests to.

The same policy as the reference host (`host/src/sandbox/http_policy.rs`), which keeps
no table of Graph's hosts: a component declares, in its `connector-hosts` custom section,
every host its connections may reach; each connection's `describe()` names the hosts it
uses; a connection may reach the declared hosts its description names, plus the hosts
the caller allows explicitly. Settings that point elsewhere (`graphBaseUrl`,
`loginBaseUrl`, `tokenUrl`) reach nothing the caller did not allow: a configuration could
otherwise send its secret anywhere.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ._errors import ConnectorError

#: A host name, an IPv4 address, or an IPv6 address in brackets.
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")

#: The custom section in which a component declares the hosts its connections may reach
#: (one `host` or `host:port` per line).
DECLARED_HOSTS_SECTION = "connector-hosts"


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
        if not _HOST_NAME.fullmatch(host):
            raise invalid("not a host name or IP address")
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
    def declared_by(cls, component: bytes) -> AllowedHosts:
        """The destinations `component` declares in its `connector-hosts` sections (in it
        or in any module or component it nests). Lines that are not a host pattern are
        ignored, never widened into something else; no section declares nothing."""
        patterns = []
        for section in _custom_sections(component, DECLARED_HOSTS_SECTION):
            for line in section.decode("utf-8", "replace").splitlines():
                try:
                    patterns.append(HostPattern.parse(line.strip()))
                except ConnectorError:
                    continue
        return cls(patterns)

    @classmethod
    def for_connection(cls, declared: AllowedHosts, described: Any, extra: AllowedHosts) -> AllowedHosts:
        """What one connection may reach: the hosts its description names (`described`,
        the `hosts` member of `describe()`) that `declared` covers, then `extra` (the
        caller's `allow_hosts`)."""
        own = []
        for host in described if isinstance(described, list) else []:
            try:
                pattern = HostPattern.parse(host)
            except ConnectorError:
                continue
            if declared.covers(pattern):
                own.append(pattern)
        return cls(own + list(extra))

    @classmethod
    def from_caller(cls, allow_hosts: Iterable[Any]) -> AllowedHosts:
        """The caller's `allow_hosts`, each checked (`invalid-config` naming the entry)."""
        if isinstance(allow_hosts, (str, bytes)):
            raise ConnectorError("invalid-config", "`allow_hosts` must be a list of hosts, not a single string")
        return cls(HostPattern.parse(pattern) for pattern in allow_hosts)

    def covers(self, pattern: HostPattern) -> bool:
        """Whether every destination `pattern` names is allowed here: the same host, on a
        port this list allows (a pattern without a port stands for every port)."""
        return any(
            allowed.host == pattern.host and (allowed.port is None or allowed.port == pattern.port)
            for allowed in self.patterns
        )

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


def _custom_sections(binary: bytes, name: str) -> list[bytes]:
    """The contents of the custom sections called `name` in a WebAssembly component or
    module, including those of the modules and components it nests. Stops at the first
    malformed byte: the engine refuses such a binary with its own error anyway."""
    found = []
    pending = collections.deque([memoryview(binary)])
    while pending:
        data = pending.popleft()
        if len(data) < 8 or bytes(data[:4]) != b"\0asm":
            continue
        # Bytes 4..8: version 1 for a core module; a component has layer 1 in bytes 6..8.
        is_component = bytes(data[6:8]) == b"\x01\x00"
        offset = 8
        while offset < len(data):
            section_id = data[offset]
            size, offset = _leb128(data, offset + 1)
            if size is None or offset + size > len(data):
                break
            contents = data[offset : offset + size]
            offset += size
            if section_id == 0:
                name_length, start = _leb128(contents, 0)
                if name_length is not None and bytes(contents[start : start + name_length]) == name.encode():
                    found.append(bytes(contents[start + name_length :]))
            elif is_component and section_id in (1, 4):
                # A nested core module (1) or component (4).
                pending.append(contents)
    return found


def _leb128(data: memoryview, offset: int) -> tuple[Optional[int], int]:
    """An unsigned LEB128 number (at most 32 bits) at `offset`, and the offset after it."""
    value = 0
    for shift in range(0, 35, 7):
        if offset >= len(data):
            return None, offset
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
    return None, offset
