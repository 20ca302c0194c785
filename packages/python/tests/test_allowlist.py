"""The allowlist's parsing and matching, beside the end-to-end refusals in test_connector."""

from __future__ import annotations

import pytest
import wasmtime

from graph_connector import AllowedHosts, ConnectorError, HostPattern, bundled_component


def declared(*lines: str) -> AllowedHosts:
    return AllowedHosts([HostPattern.parse(line) for line in lines])


def test_a_connection_may_reach_the_declared_hosts_its_description_names() -> None:
    declared_hosts = declared("login.microsoftonline.com", "graph.microsoft.com", "login.chinacloudapi.cn")
    allowed = AllowedHosts.for_connection(
        declared_hosts, ["login.microsoftonline.com", "graph.microsoft.com"], declared()
    )
    assert [str(pattern) for pattern in allowed] == ["login.microsoftonline.com", "graph.microsoft.com"]
    assert not allowed.permits("login.chinacloudapi.cn"), "declared, but this connection does not use it"


def test_endpoint_overrides_the_component_does_not_declare_are_not_trusted() -> None:
    allowed = AllowedHosts.for_connection(
        declared("graph.microsoft.com"), ["proxy.example", "graph.microsoft.com"], declared()
    )
    assert not allowed.permits("proxy.example")
    assert allowed.permits("graph.microsoft.com")


def test_the_callers_hosts_come_on_top() -> None:
    allowed = AllowedHosts.for_connection(declared(), ["127.0.0.1:8080"], AllowedHosts.from_caller(["127.0.0.1:8080"]))
    assert [str(pattern) for pattern in allowed] == ["127.0.0.1:8080"]


@pytest.mark.parametrize(
    "declaration, named, covered",
    [
        ("graph.example", "graph.example", True),
        ("graph.example", "graph.example:8443", True),
        ("graph.example:8443", "graph.example:8443", True),
        ("graph.example:8443", "graph.example", False),
        ("graph.example:8443", "graph.example:443", False),
        ("graph.example", "graph.example.evil", False),
    ],
)
def test_a_declaration_covers_the_same_host_on_the_ports_it_allows(declaration: str, named: str, covered: bool) -> None:
    assert declared(declaration).covers(HostPattern.parse(named)) is covered


@pytest.mark.parametrize("described", [None, "graph.microsoft.com", [3, "https://graph.microsoft.com", ""]])
def test_a_malformed_description_names_nothing(described: object) -> None:
    assert list(AllowedHosts.for_connection(declared("graph.microsoft.com"), described, declared())) == []


def test_a_component_declares_hosts_in_custom_sections_at_any_depth() -> None:
    component = wasmtime.wat2wasm(
        r"""(component
             (core module (@custom "connector-hosts" "a.example\0ab.example:8443\0a not a host\0a\0a"))
             (core module (@custom "other-section" "c.example"))
             (component (core module (@custom "connector-hosts" "d.example"))))"""
    )
    assert [str(pattern) for pattern in AllowedHosts.declared_by(bytes(component))] == [
        "a.example",
        "b.example:8443",
        "d.example",
    ]


@pytest.mark.parametrize(
    "binary", [b"", b"\0asm", b"\0asm\x0d\x00\x01\x00\x00\xff\xff\xff\xff\xff", b"not wasm at all"]
)
def test_a_malformed_binary_declares_nothing(binary: bytes) -> None:
    assert list(AllowedHosts.declared_by(binary)) == []


def test_the_bundled_components_declaration_is_read() -> None:
    # Whatever the bundled component declares is made of host patterns (an empty list
    # when it predates the declaration): reading it never fails.
    assert all(isinstance(pattern, HostPattern) for pattern in AllowedHosts.declared_by(bundled_component()))


@pytest.mark.parametrize(
    "pattern, authority, permitted",
    [
        ("graph.example", "graph.example", True),
        ("graph.example", "GRAPH.Example:8443", True),
        ("GRAPH.example", "graph.example", True),
        ("graph.example", "graph.example.evil", False),
        ("graph.example", "evil-graph.example", False),
        ("127.0.0.1:8080", "127.0.0.1:8080", True),
        ("127.0.0.1:8080", "127.0.0.1:8081", False),
        ("127.0.0.1:8080", "127.0.0.1", False),
        ("graph.example:443", "graph.example", True),
        ("graph.example:443", "graph.example:443", True),
        ("graph.example:443", "graph.example:8443", False),
        ("[::1]:8080", "[::1]:8080", True),
        ("[::1]", "[::1]:9", True),
        ("graph.example", "graph.example:99999", False),
        ("graph.example", "graph.example:", False),
        ("graph.example", "", False),
        ("graph.example", None, False),
    ],
)
def test_an_authority_is_matched_by_host_and_port(pattern: str, authority: str, permitted: bool) -> None:
    allowed = AllowedHosts([HostPattern.parse(pattern)])
    assert allowed.permits(authority) is permitted


@pytest.mark.parametrize(
    "pattern, authority, scheme, permitted",
    [
        ("127.0.0.1:80", "127.0.0.1", "HTTP", True),
        ("127.0.0.1:80", "127.0.0.1", "HTTPS", False),
        ("127.0.0.1:80", "127.0.0.1", None, False),
        ("graph.example:443", "graph.example", None, True),
        ("graph.example:443", "graph.example", "HTTP", False),
    ],
)
def test_an_authority_without_a_port_has_its_schemes_default_port(
    pattern: str, authority: str, scheme: str, permitted: bool
) -> None:
    assert AllowedHosts([HostPattern.parse(pattern)]).permits(authority, scheme) is permitted


@pytest.mark.parametrize(
    "pattern", ["http://graph.example", "graph.example/v1.0", "", "host:port", "[::1", 7, "not a host", "a@b.example"]
)
def test_a_malformed_pattern_is_an_invalid_config(pattern: object) -> None:
    with pytest.raises(ConnectorError) as raised:
        HostPattern.parse(pattern)
    assert raised.value.code == "invalid-config" and "`allow_hosts`" in raised.value.message
