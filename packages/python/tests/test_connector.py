"""The package's behaviour seen from a caller, against a fake Graph on 127.0.0.1."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fake_graph import Answer, FakeGraph, SeenRequest

from graph_connector import Connection, Connector, ConnectorError, Limits

USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def open_with_token(graph: FakeGraph, cache_dir: Path, token: str = "test-token", **options: Any) -> Connection:
    """A connection with a bearer token to the fake Graph, which `allow_hosts` lets through."""
    config = {"auth": "accessToken", "accessToken": token, "graphBaseUrl": f"{graph.base}/v1.0"}
    options.setdefault("allow_hosts", [graph.authority])
    return Connector.open(config, cache_dir=cache_dir, **options)


def client_credentials(graph: FakeGraph, client_id: str, secret: str) -> dict[str, Any]:
    return {
        "tenantId": TENANT_ID,
        "clientId": client_id,
        "clientSecret": secret,
        "graphBaseUrl": f"{graph.base}/v1.0",
        "tokenUrl": f"{graph.base}/{TENANT_ID}/oauth2/v2.0/token",
    }


class TestInvoke:
    def test_users_get_sends_the_documented_request_and_returns_the_user(
        self, graph: FakeGraph, cache_dir: Path
    ) -> None:
        graph.answer(
            "GET",
            f"/v1.0/users/{USER_ID}?$select=displayName,mail",
            body={
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                "displayName": "Adele Vance",
                "mail": "AdeleV@contoso.com",
            },
        )
        with open_with_token(graph, cache_dir) as connection:
            output = connection.invoke("users.get", {"userId": USER_ID, "select": "displayName,mail"})

        assert output == {"displayName": "Adele Vance", "mail": "AdeleV@contoso.com"}
        assert graph.requests == [
            SeenRequest(
                method="GET",
                path=f"/v1.0/users/{USER_ID}",
                query="$select=displayName,mail",
                headers={"host": graph.authority, "authorization": "Bearer test-token", "accept": "application/json"},
                body=b"",
            )
        ]

    def test_users_list_follows_next_link_across_pages(self, graph: FakeGraph, cache_dir: Path) -> None:
        users = [{"id": f"00000000-0000-4000-8000-00000000000{n}", "displayName": f"User {n}"} for n in range(1, 6)]
        graph.answer(
            "GET",
            "/v1.0/users?$top=2",
            body={"value": users[0:2], "@odata.nextLink": f"{graph.base}/v1.0/users?$top=2&$skiptoken=page2"},
        )
        graph.answer(
            "GET",
            "/v1.0/users?$top=2&$skiptoken=page2",
            body={"value": users[2:4], "@odata.nextLink": f"{graph.base}/v1.0/users?$top=2&$skiptoken=page3"},
        )
        graph.answer("GET", "/v1.0/users?$top=2&$skiptoken=page3", body={"value": users[4:]})

        with open_with_token(graph, cache_dir) as connection:
            output = connection.invoke("users.list", {"top": 2, "maxItems": 0})

        assert output == {"value": users}
        assert [(r.method, r.path, r.query) for r in graph.requests] == [
            ("GET", "/v1.0/users", "$top=2"),
            ("GET", "/v1.0/users", "$top=2&$skiptoken=page2"),
            ("GET", "/v1.0/users", "$top=2&$skiptoken=page3"),
        ]
        assert {r.headers["authorization"] for r in graph.requests} == {"Bearer test-token"}

    def test_a_graph_error_raises_a_connector_error_with_camel_case_attributes(
        self, graph: FakeGraph, cache_dir: Path
    ) -> None:
        graph.answer(
            "GET",
            f"/v1.0/users/{USER_ID}",
            status=404,
            headers={"request-id": "4b2c3d4e-404"},
            body={
                "error": {
                    "code": "Request_ResourceNotFound",
                    "message": f"Resource '{USER_ID}' does not exist.",
                    "innerError": {"request-id": "4b2c3d4e-404", "date": "2026-11-25T10:00:00"},
                }
            },
        )

        with open_with_token(graph, cache_dir) as connection, pytest.raises(ConnectorError) as raised:
            connection.invoke("users.get", {"userId": USER_ID})

        error = raised.value
        assert (error.code, error.status, error.graphCode, error.requestId, error.retryAfterMs) == (
            "not-found",
            404,
            "Request_ResourceNotFound",
            "4b2c3d4e-404",
            None,
        )
        assert error.message == f"Resource '{USER_ID}' does not exist."
        assert error.to_dict()["graphCode"] == "Request_ResourceNotFound"
        assert len(graph.requests) == 1

    def test_throttling_waits_for_retry_after_then_returns_the_answer(self, graph: FakeGraph, cache_dir: Path) -> None:
        target = f"/v1.0/users/{USER_ID}"
        graph.answer(
            "GET",
            target,
            status=429,
            headers={"retry-after": "1"},
            body={"error": {"code": "TooManyRequests", "message": "Too many requests"}},
        )
        graph.answer("GET", target, body={"id": USER_ID})

        with open_with_token(graph, cache_dir) as connection:
            output = connection.invoke("users.get", {"userId": USER_ID})

        assert output == {"id": USER_ID}
        assert [(r.method, r.path) for r in graph.requests] == [("GET", target), ("GET", target)]

    def test_throttling_past_the_deadline_reports_retry_after_ms(self, graph: FakeGraph, cache_dir: Path) -> None:
        # Graph asks for a minute; the call may take two seconds: the connector gives up
        # and tells the caller how long Graph asked it to wait.
        graph.answer(
            "GET",
            f"/v1.0/users/{USER_ID}",
            status=429,
            headers={"retry-after": "60"},
            body={"error": {"code": "TooManyRequests", "message": "Too many requests"}},
        )

        with open_with_token(graph, cache_dir) as connection, pytest.raises(ConnectorError) as raised:
            connection.invoke("users.get", {"userId": USER_ID}, timeout_ms=2000)

        assert (raised.value.code, raised.value.status, raised.value.retryAfterMs) == ("throttled", 429, 60_000)
        assert len(graph.requests) == 1

    def test_two_connections_keep_their_own_tokens(self, graph: FakeGraph, cache_dir: Path) -> None:
        token_path = f"/{TENANT_ID}/oauth2/v2.0/token"

        def issue(request: SeenRequest) -> Answer:
            client = request.form()["client_id"][0]
            return Answer(body={"access_token": f"token-of-{client}", "token_type": "Bearer", "expires_in": 3600})

        graph.answer("POST", token_path, issue)
        graph.answer("POST", token_path, issue)
        for _ in range(4):
            graph.answer("GET", f"/v1.0/users/{USER_ID}", body={"id": USER_ID})

        first = Connector.open(
            client_credentials(graph, "client-a", "secret-a"), allow_hosts=[graph.authority], cache_dir=cache_dir
        )
        second = Connector.open(
            client_credentials(graph, "client-b", "secret-b"), allow_hosts=[graph.authority], cache_dir=cache_dir
        )
        with first, second:
            for connection in (first, second, second, first):
                assert connection.invoke("users.get", {"userId": USER_ID}) == {"id": USER_ID}

        token_requests = [r for r in graph.requests if r.path == token_path]
        assert [r.form() for r in token_requests] == [
            {
                "client_id": [client],
                "client_secret": [secret],
                "grant_type": ["client_credentials"],
                "scope": ["https://graph.microsoft.com/.default"],
            }
            for client, secret in (("client-a", "secret-a"), ("client-b", "secret-b"))
        ]
        assert [r.headers["authorization"] for r in graph.requests if r.method == "GET"] == [
            "Bearer token-of-client-a",
            "Bearer token-of-client-b",
            "Bearer token-of-client-b",
            "Bearer token-of-client-a",
        ]

    def test_a_slow_answer_ends_at_the_calls_timeout_with_a_typed_error(
        self, graph: FakeGraph, cache_dir: Path
    ) -> None:
        # The deadline travels with the request (request options, through the package's
        # own outgoing handler); the fake answers long after it.
        released = threading.Event()

        def slow(_request: SeenRequest) -> Answer:
            released.wait(10)
            return Answer(body={"id": USER_ID})

        graph.answer("GET", f"/v1.0/users/{USER_ID}", slow)
        try:
            with open_with_token(graph, cache_dir) as connection, pytest.raises(ConnectorError) as raised:
                connection.invoke("users.get", {"userId": USER_ID}, timeout_ms=300)
        finally:
            released.set()

        assert raised.value.code == "transport"
        assert "the invocation's deadline (`timeoutMs`, 300 ms) passed" in raised.value.message
        assert len(graph.requests) == 1

    def test_two_connections_run_in_parallel_threads(self, graph: FakeGraph, cache_dir: Path) -> None:
        both_arrived = threading.Barrier(2, timeout=10)

        def answer_when_both_arrived(request: SeenRequest) -> Answer:
            # Each answer waits for the other request: only parallel calls get through.
            both_arrived.wait()
            # Which token came (its number: the connector redacts its secrets from output).
            return Answer(body={"caller": request.headers["authorization"].removeprefix("Bearer token-")})

        graph.answer("GET", f"/v1.0/users/{USER_ID}", answer_when_both_arrived)
        graph.answer("GET", f"/v1.0/users/{USER_ID}", answer_when_both_arrived)
        first, second = open_with_token(graph, cache_dir, "token-1"), open_with_token(graph, cache_dir, "token-2")
        with first, second, ThreadPoolExecutor(2) as pool:
            outputs = list(pool.map(lambda c: c.invoke("users.get", {"userId": USER_ID}), (first, second)))

        assert outputs == [{"caller": "1"}, {"caller": "2"}]

    def test_dry_run_returns_the_plan_and_sends_no_write(self, graph: FakeGraph, cache_dir: Path) -> None:
        group_id = "00000000-0000-0000-0000-000000000001"
        with open_with_token(graph, cache_dir) as connection:
            output = connection.invoke(
                "groups.update", {"groupId": group_id, "jsonBody": {"description": "x"}}, dry_run=True
            )

        assert output == {
            "dryRun": True,
            "plan": [{"method": "PATCH", "url": f"{graph.base}/v1.0/groups/{group_id}", "body": {"description": "x"}}],
        }
        assert graph.requests == []

    def test_list_actions_gives_camel_case_descriptors(self, graph: FakeGraph, cache_dir: Path) -> None:
        with open_with_token(graph, cache_dir) as connection:
            actions = {action["id"]: action for action in connection.list_actions()}

        users_get = actions["users.get"]
        assert users_get["readOnly"] is True
        assert users_get["category"] == "users"
        assert "userId" in users_get["inputSchema"]["properties"]
        assert set(users_get) == {
            "id",
            "title",
            "description",
            "category",
            "inputSchema",
            "outputSchema",
            "permissions",
            "readOnly",
        }
        assert actions["users.delete"]["readOnly"] is False


class TestAllowlist:
    def test_a_graph_host_not_allowed_is_refused_before_any_network(self, graph: FakeGraph, cache_dir: Path) -> None:
        with open_with_token(graph, cache_dir, allow_hosts=[]) as connection, pytest.raises(ConnectorError) as raised:
            connection.invoke("users.get", {"userId": USER_ID})

        assert raised.value.code == "transport"
        assert "HTTP-request-denied" in raised.value.message
        assert connection.refused == [graph.authority]
        assert graph.requests == []

    def test_a_declared_host_the_connection_names_is_reached_without_allow_hosts(
        self, graph: FakeGraph, declaring_connector: Connector
    ) -> None:
        graph.answer("GET", f"/v1.0/users/{USER_ID}", body={"id": USER_ID})
        config = {"auth": "accessToken", "accessToken": "t", "graphBaseUrl": f"{graph.base}/v1.0"}
        with declaring_connector.connect(config) as connection:
            assert connection.invoke("users.get", {"userId": USER_ID}) == {"id": USER_ID}
            assert [str(pattern) for pattern in connection.allowed_hosts] == [graph.authority]
        assert len(graph.requests) == 1

    def test_a_host_the_component_does_not_declare_is_refused_though_the_connection_names_it(
        self, graph: FakeGraph, declaring_connector: Connector
    ) -> None:
        config = {"auth": "accessToken", "accessToken": "t", "graphBaseUrl": f"http://localhost:{graph.port}/v1.0"}
        with declaring_connector.connect(config) as connection, pytest.raises(ConnectorError) as raised:
            connection.invoke("users.get", {"userId": USER_ID})
        assert "HTTP-request-denied" in raised.value.message
        assert connection.refused == [f"localhost:{graph.port}"]
        assert graph.requests == []

    def test_a_token_endpoint_not_allowed_is_refused_and_the_secret_never_leaves(
        self, graph: FakeGraph, cache_dir: Path
    ) -> None:
        elsewhere = FakeGraph()
        try:
            config = client_credentials(graph, "client-a", "secret-a")
            config["tokenUrl"] = f"{elsewhere.base}/{TENANT_ID}/oauth2/v2.0/token"
            with Connector.open(config, allow_hosts=[graph.authority], cache_dir=cache_dir) as connection:
                with pytest.raises(ConnectorError) as raised:
                    connection.invoke("users.get", {"userId": USER_ID})
                assert connection.refused == [elsewhere.authority]
            assert "HTTP-request-denied" in raised.value.message
            assert "secret-a" not in str(raised.value)
            assert elsewhere.requests == [] and graph.requests == []
        finally:
            elsewhere.close()

    def test_an_allowed_host_on_another_port_is_refused(self, graph: FakeGraph, cache_dir: Path) -> None:
        other_port = "127.0.0.1:1" if graph.port != 1 else "127.0.0.1:2"
        with open_with_token(graph, cache_dir, allow_hosts=[other_port]) as connection, pytest.raises(ConnectorError):
            connection.invoke("users.get", {"userId": USER_ID})
        assert graph.requests == []

    @pytest.mark.parametrize(
        "entry, reason",
        [
            ("https://graph.example", "give a host name, not a URL"),
            ("graph.example:0", "the port must be a number"),
            (":8080", "the host is empty"),
            (8080, "must be a string"),
        ],
    )
    def test_a_malformed_allow_hosts_entry_is_an_invalid_config(
        self, graph: FakeGraph, cache_dir: Path, entry: Any, reason: str
    ) -> None:
        with pytest.raises(ConnectorError) as raised:
            open_with_token(graph, cache_dir, allow_hosts=[entry])
        assert raised.value.code == "invalid-config"
        assert "`allow_hosts`" in raised.value.message and reason in raised.value.message

    def test_allow_hosts_as_one_string_is_refused(self, graph: FakeGraph, cache_dir: Path) -> None:
        with pytest.raises(ConnectorError, match="list of hosts"):
            open_with_token(graph, cache_dir, allow_hosts=graph.authority)


class TestCallerMistakes:
    def test_a_memory_cap_below_the_components_initial_memory_is_an_invalid_config(self, cache_dir: Path) -> None:
        # The component starts with 2 MiB of linear memory (plugin/build.rs).
        with pytest.raises(ConnectorError) as raised:
            Connector.open(
                {"auth": "accessToken", "accessToken": "tok-1234567890"},
                cache_dir=cache_dir,
                limits=Limits(memory_bytes=1024 * 1024),
            )
        assert raised.value.code == "invalid-config"
        assert "`limits.memory_bytes` (1048576)" in raised.value.message

    def test_a_bad_configuration_is_reported_by_the_component(self, cache_dir: Path) -> None:
        with pytest.raises(ConnectorError) as raised:
            Connector.open({"tenantId": TENANT_ID, "clientId": "c"}, cache_dir=cache_dir)
        assert raised.value.code == "invalid-config"
        assert "clientSecret" in raised.value.message

    @pytest.mark.parametrize(
        "call, field",
        [
            (lambda c: c.invoke(3, {}), "`action`"),
            (lambda c: c.invoke("users.get", ["not", "a", "dict"]), "`input`"),
            (lambda c: c.invoke("users.get", {"userId": "a"}, timeout_ms=0), "`timeout_ms`"),
            (lambda c: c.invoke("users.get", {"userId": "a"}, dry_run="yes"), "`dry_run`"),
            (lambda c: c.invoke("users.get", {"userId": float("nan")}), "`input`"),
        ],
    )
    def test_a_wrong_argument_is_an_invalid_input_naming_it(
        self, graph: FakeGraph, cache_dir: Path, call: Any, field: str
    ) -> None:
        with open_with_token(graph, cache_dir) as connection, pytest.raises(ConnectorError) as raised:
            call(connection)
        assert raised.value.code == "invalid-input" and field in raised.value.message
        assert graph.requests == []

    def test_an_unknown_action_is_reported_by_the_component(self, graph: FakeGraph, cache_dir: Path) -> None:
        with open_with_token(graph, cache_dir) as connection, pytest.raises(ConnectorError) as raised:
            connection.invoke("users.fly", {})
        assert raised.value.code == "unknown-action"

    def test_a_failure_of_the_packages_outgoing_handler_is_an_internal_error_and_ends_the_connection(
        self, graph: FakeGraph, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        connection = open_with_token(graph, cache_dir)

        def broken_send(*_arguments: Any) -> Any:
            raise RuntimeError("the sender broke")

        monkeypatch.setattr(connection, "_send", broken_send)
        with pytest.raises(ConnectorError) as raised:
            connection.invoke("users.get", {"userId": USER_ID})
        assert raised.value.code == "internal"
        assert "RuntimeError: the sender broke" in raised.value.message
        with pytest.raises(ConnectorError) as again:
            connection.invoke("users.get", {"userId": USER_ID})
        assert again.value.code == "not-connected"
        assert graph.requests == []

    def test_a_closed_connection_refuses_calls(self, graph: FakeGraph, cache_dir: Path) -> None:
        connection = open_with_token(graph, cache_dir)
        connection.close()
        connection.close()
        with pytest.raises(ConnectorError) as raised:
            connection.invoke("users.get", {"userId": USER_ID})
        assert raised.value.code == "not-connected"
