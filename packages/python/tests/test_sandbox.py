"""The sandbox's limits, shown with the repository's hostile test component
(`host/tests/hostile-component`, built into `target/component` by the host's build)."""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path

import pytest

from graph_connector import Connector, ConnectorError, Limits

HOSTILE = Path(
    os.environ.get("HOSTILE_COMPONENT_WASM")
    or Path(__file__).resolve().parents[3] / "target/component/wasm32-wasip2/component/hostile_component.wasm"
)


@pytest.fixture(scope="module")
def hostile(cache_dir: Path) -> Connector:
    if not HOSTILE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the hostile component is missing at {HOSTILE} (cargo test builds it)")
        pytest.skip(f"the hostile component is not built ({HOSTILE}); `cargo test -p connector-host` builds it")
    return Connector(cache_dir=cache_dir, component=HOSTILE.read_bytes())


def test_a_well_behaved_call_goes_through(hostile: Connector) -> None:
    assert hostile.connect({}).invoke("ok", {"n": 1}) == {"ok": True, "input": {"n": 1}}


def test_a_host_no_allowlist_names_is_refused(hostile: Connector) -> None:
    connection = hostile.connect({})
    with pytest.raises(ConnectorError) as raised:
        connection.invoke("call-disallowed-host", {})
    assert raised.value.code == "transport" and "HttpRequestDenied" in raised.value.message
    assert connection.refused == ["example.com"]


def test_a_request_flood_is_stopped_at_the_cap(hostile: Connector) -> None:
    connection = hostile.connect({}, limits=Limits(requests_per_invocation=5))
    with pytest.raises(ConnectorError) as raised:
        connection.invoke("request-flood", {})
    assert raised.value.code == "transport"
    assert "more than 5 requests" in raised.value.message


def test_memory_growth_is_stopped_at_the_cap(hostile: Connector, capfd: pytest.CaptureFixture[str]) -> None:
    connection = hostile.connect({}, limits=Limits(memory_bytes=16 * 1024 * 1024))
    with pytest.raises(ConnectorError) as raised:
        connection.invoke("grow-memory", {})
    assert raised.value.code == "internal"
    assert "ran out of memory (`limits.memory_bytes` is 16777216)" in raised.value.message
    # What the component wrote to its standard error stays with the connection.
    assert b"memory allocation of" in connection.captured_output
    assert capfd.readouterr() == ("", "")


def test_an_endless_loop_is_stopped_at_the_hard_deadline_and_the_connection_ends(hostile: Connector) -> None:
    connection = hostile.connect({}, limits=Limits(hard_deadline_ms=200))
    with pytest.raises(ConnectorError) as raised:
        connection.invoke("loop-forever", {})
    assert raised.value.code == "transport"
    assert "hard deadline of 200 ms" in raised.value.message
    with pytest.raises(ConnectorError) as again:
        connection.invoke("ok", {})
    assert again.value.code == "not-connected"


def test_another_connection_keeps_working_after_one_was_stopped(hostile: Connector) -> None:
    stopped = hostile.connect({}, limits=Limits(hard_deadline_ms=100))
    healthy = hostile.connect({})
    with pytest.raises(ConnectorError):
        stopped.invoke("loop-forever", {})
    assert healthy.invoke("ok", {}) == {"ok": True, "input": {}}


def test_output_that_is_not_json_is_an_internal_error(hostile: Connector) -> None:
    with pytest.raises(ConnectorError) as raised:
        hostile.connect({}).invoke("invalid-json", {})
    assert raised.value.code == "internal" and "not a JSON object" in raised.value.message


@pytest.mark.parametrize(
    "limits, field",
    [
        (Limits(memory_bytes=0), "`limits.memory_bytes`"),
        (Limits(requests_per_invocation=True), "`limits.requests_per_invocation`"),
        (Limits(hard_deadline_ms=-1), "`limits.hard_deadline_ms`"),
    ],
)
def test_a_wrong_limit_is_an_invalid_config_naming_it(hostile: Connector, limits: Limits, field: str) -> None:
    with pytest.raises(ConnectorError) as raised:
        hostile.connect({}, limits=limits)
    assert raised.value.code == "invalid-config" and field in raised.value.message


def test_a_released_connection_is_freed_with_its_store(hostile: Connector) -> None:
    # wasmtime-py keeps linker and WASI callbacks in process-wide tables; the package
    # hands them weak references, so nothing there keeps a connection alive.
    connection = hostile.connect({})
    assert connection.invoke("ok", {}) == {"ok": True, "input": {}}
    released = weakref.ref(connection)
    connection.close()
    del connection
    gc.collect()
    assert released() is None
