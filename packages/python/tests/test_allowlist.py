"""The allowlist's parsing and matching, beside the end-to-end refusals in test_connector."""

from __future__ import annotations

import pytest

from graph_connector import CLOUD_HOSTS, AllowedHosts, ConnectorError, HostPattern


@pytest.mark.parametrize(
    "cloud, hosts",
    [
        (None, ("login.microsoftonline.com", "graph.microsoft.com")),
        ("china", ("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn")),
        ("usgovDod", ("login.microsoftonline.us", "dod-graph.microsoft.us")),
    ],
)
def test_a_connection_may_reach_its_own_cloud(cloud: str, hosts: tuple[str, ...]) -> None:
    config = {} if cloud is None else {"cloud": cloud}
    allowed = AllowedHosts.for_connection(config, [])
    assert [str(pattern) for pattern in allowed] == list(hosts)
    assert all(allowed.permits(host) for host in hosts)


def test_another_clouds_hosts_are_not_allowed() -> None:
    allowed = AllowedHosts.for_connection({"cloud": "china"}, [])
    assert not any(allowed.permits(host) for host in CLOUD_HOSTS["global"])


def test_an_unknown_or_malformed_cloud_allows_nothing_of_its_own() -> None:
    assert list(AllowedHosts.for_connection({"cloud": "mars"}, [])) == []
    assert list(AllowedHosts.for_connection({"cloud": 3}, [])) == []


def test_endpoint_overrides_in_the_configuration_are_not_trusted() -> None:
    allowed = AllowedHosts.for_connection({"graphBaseUrl": "https://proxy.example/v1.0"}, [])
    assert not allowed.permits("proxy.example")


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


@pytest.mark.parametrize("pattern", ["http://graph.example", "graph.example/v1.0", "", "host:port", "[::1", 7])
def test_a_malformed_pattern_is_an_invalid_config(pattern: object) -> None:
    with pytest.raises(ConnectorError) as raised:
        HostPattern.parse(pattern)
    assert raised.value.code == "invalid-config" and "`allow_hosts`" in raised.value.message
