"""Connections to Microsoft Graph through the sandboxed connector component.

One `Connector` holds the engine and the compiled component (compiled once per process,
and cached on disk between processes). Each `Connection` runs in a store and instance of
its own, so that one connection's limits, allowlist and failures never reach another.
"""

from __future__ import annotations

import collections
import json
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import wasmtime
from wasmtime import component as wasm_component

from ._allowlist import AllowedHosts
from ._cache import ComponentCache, NoCache, default_cache_dir
from ._errors import ConnectorError

#: The WIT interface that exports the `connection` resource.
CONNECTIONS_INTERFACE = "connector:plugin/connections@0.2.0"
#: The interface whose `handle` the package replaces with its allowlist check.
OUTGOING_HANDLER_INTERFACE = "wasi:http/outgoing-handler@0.2.12"

#: How often the engine's epoch advances: the granularity of the hard deadline.
EPOCH_TICK_SECONDS = 0.05
#: The connector's own deadline when neither the call nor the connection sets one.
CONNECTOR_DEFAULT_TIMEOUT_MS = 120_000
#: How long past the connector's own deadline the host stops a call: the connector
#: normally ends first with a typed error naming the request that ran out of time.
HARD_STOP_GRACE_MS = 30_000
#: The reference host's default memory cap per instance: far above what paging through
#: Graph needs, low enough that a runaway component cannot hurt the process.
DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024
#: The reference host's cap on HTTP requests per invocation.
DEFAULT_REQUESTS_PER_INVOCATION = 500
#: How many distinct refused destinations a connection lists in `refused`.
REFUSED_KEPT = 100
#: How much of the component's standard output and error a connection keeps.
CAPTURED_OUTPUT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """What one connection's instance may use; the reference host's defaults."""

    #: The most linear memory the instance may use, in bytes.
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    #: How many HTTP requests one call may send; more fail with `connection-limit-reached`.
    requests_per_invocation: int = DEFAULT_REQUESTS_PER_INVOCATION
    #: How long any one call may run before the host stops it, in milliseconds. None:
    #: the call's own deadline (`timeout_ms`, else the connection's `timeoutMs`) plus
    #: `HARD_STOP_GRACE_MS`, so that the connector normally ends first with its typed error.
    hard_deadline_ms: Optional[int] = None

    def check(self) -> None:
        """Raises `ConnectorError` (`invalid-config`) naming a field that is not a positive integer."""
        for name in ("memory_bytes", "requests_per_invocation", "hard_deadline_ms"):
            value = getattr(self, name)
            if value is None and name == "hard_deadline_ms":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConnectorError("invalid-config", f"`limits.{name}` must be a positive integer (got {value!r})")


def bundled_component() -> bytes:
    """The connector component shipped inside the package."""
    return resources.files("graph_connector").joinpath("graph_connector.wasm").read_bytes()


def _gate_component() -> bytes:
    text = resources.files("graph_connector").joinpath("outgoing_gate.wat").read_text("utf-8")
    return bytes(wasmtime.wat2wasm(text))


class Connector:
    """The engine and the compiled component; opens connections.

    `Connector.open(config)` uses one shared instance per cache directory; create a
    `Connector` yourself to choose the cache directory or to load another build of the
    component.
    """

    _shared: dict[str, Connector] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        *,
        cache_dir: Union[str, os.PathLike[str], None, bool] = None,
        component: Optional[bytes] = None,
    ) -> None:
        """Loads the component: from the disk cache when possible, else compiled.

        `cache_dir`: where compiled components are kept (default: the user's cache
        directory, or `GRAPH_CONNECTOR_CACHE_DIR`); `False` to compile in memory only.
        `component`: the component's bytes (default: the one in the package).
        """
        config = wasmtime.Config()
        # Epoch interruption lets the host stop a call that runs past its hard deadline.
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        if cache_dir is False:
            self.cache: Union[ComponentCache, NoCache] = NoCache()
        else:
            directory = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)  # type: ignore[arg-type]
            self.cache = ComponentCache(directory, engine_settings="epoch")
        wasm = component if component is not None else bundled_component()
        #: What the component declares its connections may reach (`connector-hosts`).
        self.declared_hosts = AllowedHosts.declared_by(wasm)
        self.component = self.cache.load(self.engine, wasm)
        #: How the component was obtained: `compiled`, `deserialized` or `recompiled`.
        self.cache_outcome = self.cache.last_outcome
        self.gate = self.cache.load(self.engine, _gate_component())
        self._ticker = _EpochTicker(self.engine)

    @classmethod
    def open(
        cls,
        config: Union[Mapping[str, Any], str],
        *,
        allow_hosts: Iterable[str] = (),
        cache_dir: Union[str, os.PathLike[str], None, bool] = None,
        limits: Limits = Limits(),
    ) -> Connection:
        """Opens a connection with `config` (the connector's connection settings).

        The connection reaches the hosts it uses (its `describe()["hosts"]`) that the
        component declares in its `connector-hosts` section (the login and Graph hosts of
        the national clouds), plus the `allow_hosts` given here (`HOST` or `HOST:PORT`);
        a configuration that points `graphBaseUrl`, `loginBaseUrl` or `tokenUrl`
        elsewhere needs those hosts listed.
        """
        key = "" if cache_dir is False else str(cache_dir or default_cache_dir())
        with cls._shared_lock:
            connector = cls._shared.get(key)
            if connector is None:
                connector = cls(cache_dir=cache_dir)
                cls._shared[key] = connector
        return connector.connect(config, allow_hosts=allow_hosts, limits=limits)

    def connect(
        self,
        config: Union[Mapping[str, Any], str],
        *,
        allow_hosts: Iterable[str] = (),
        limits: Limits = Limits(),
    ) -> Connection:
        """Opens a connection on this connector; the arguments are those of `open`."""
        return Connection(self, config, allow_hosts=allow_hosts, limits=limits)


class Connection:
    """One open connection: its settings, its token cache, its own sandboxed instance.

    Not for concurrent use from several threads at once (calls are serialised); open one
    connection per thread for parallel calls.
    """

    def __init__(
        self,
        connector: Connector,
        config: Union[Mapping[str, Any], str],
        *,
        allow_hosts: Iterable[str],
        limits: Limits,
    ) -> None:
        config_text = _config_text(config)
        caller_hosts = AllowedHosts.from_caller(allow_hosts)
        #: What this connection may reach: the hosts its `describe()` names that the
        #: component declares, then `allow_hosts`. Set once the connection is open.
        self.allowed_hosts = caller_hosts
        if not isinstance(limits, Limits):
            raise ConnectorError(
                "invalid-config", f"`limits` must be a graph_connector.Limits (got {type(limits).__name__})"
            )
        limits.check()
        self.limits = limits
        self._requests_this_call = 0
        self._request_cap_broken = False
        #: The distinct destinations refused during this connection's life, as
        #: `host[:port]` (the first `REFUSED_KEPT`).
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._connector = connector
        self._output: collections.deque[bytes] = collections.deque()
        self._output_size = 0

        self._store = wasmtime.Store(connector.engine)
        wasi = wasmtime.WasiConfig()
        # No argv, no environment, no preopened directories (WasiConfig starts empty);
        # standard output and error go to a bounded buffer, never to this process's.
        capture = _weakly(self._capture, when_gone=len)
        wasi.stdout_custom = capture
        wasi.stderr_custom = capture
        self._store.set_wasi(wasi)
        self._store.set_wasi_http()
        self._store.set_limits(memory_size=limits.memory_bytes)
        # Instantiation runs the component's start code: it gets a deadline too.
        self._store.set_epoch_deadline(_ticks(limits.hard_deadline_ms or HARD_STOP_GRACE_MS))

        gate_linker = wasm_component.Linker(connector.engine)
        gate_linker.add_wasip2()
        gate_linker.add_wasi_http()
        gate = gate_linker.instantiate(self._store, connector.gate)
        self._destination = _export(self._store, gate, "destination")
        self._send = _export(self._store, gate, "handle")

        linker = wasm_component.Linker(connector.engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        linker.allow_shadowing = True
        with linker.root() as root:
            with root.add_instance(OUTGOING_HANDLER_INTERFACE) as handler:
                handler.add_func("handle", _weakly(self._handle, when_gone=_refuse_when_gone))
        try:
            instance = linker.instantiate(self._store, connector.component)
        except wasmtime.WasmtimeError as error:
            # The component's initial memory is above the cap: no call could ever run.
            if "exceeds memory limits" in str(error):
                raise ConnectorError(
                    "invalid-config",
                    f"`limits.memory_bytes` ({limits.memory_bytes}) is below the memory the component starts with: "
                    f"{error}",
                ) from None
            raise

        self._list_actions = _export(self._store, instance, "list-actions")
        self._describe = _export(self._store, instance, "[method]connection.describe", CONNECTIONS_INTERFACE)
        self._invoke = _export(self._store, instance, "[method]connection.invoke", CONNECTIONS_INTERFACE)
        opened = self._call(
            _export(self._store, instance, "[static]connection.open", CONNECTIONS_INTERFACE), config_text
        )
        if not isinstance(opened, wasm_component.ResourceAny):
            raise ConnectorError._from_record(opened)
        self._connection: Optional[wasm_component.ResourceAny] = opened
        description = self.describe()
        self.allowed_hosts = AllowedHosts.for_connection(
            connector.declared_hosts, description.get("hosts"), caller_hosts
        )
        configured = description.get("timeoutMs")
        self._timeout_ms = (
            configured if isinstance(configured, int) and configured > 0 else CONNECTOR_DEFAULT_TIMEOUT_MS
        )

    # -- the public surface ------------------------------------------------------------

    def invoke(
        self,
        action: str,
        input: Optional[Mapping[str, Any]] = None,  # noqa: A002 - the contract's name
        *,
        timeout_ms: Optional[int] = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Runs `action` with `input` and returns its output, or raises `ConnectorError`.

        `timeout_ms`: the call's deadline (retries, waits and requests all end by it);
        default the connection's `timeoutMs` setting. `dry_run`: run the reads, send no
        writes, and return the plan of the writes (`{"dryRun": true, "plan": [...]}`).
        """
        if not isinstance(action, str):
            raise ConnectorError("invalid-input", f"`action` must be a string (got {type(action).__name__})")
        if input is None:
            input = {}  # noqa: A001
        if not isinstance(input, Mapping):
            raise ConnectorError("invalid-input", f"`input` must be a dict (got {type(input).__name__})")
        if timeout_ms is not None and (
            isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < 1
        ):
            raise ConnectorError("invalid-input", f"`timeout_ms` must be a positive integer (got {timeout_ms!r})")
        if not isinstance(dry_run, bool):
            raise ConnectorError("invalid-input", f"`dry_run` must be true or false (got {dry_run!r})")
        try:
            input_text = json.dumps(dict(input), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ConnectorError("invalid-input", f"`input` is not JSON: {error}") from None
        options = wasm_component.Record()
        setattr(options, "timeout-ms", timeout_ms)
        setattr(options, "dry-run", dry_run)
        hard_stop_ms = self.limits.hard_deadline_ms or (timeout_ms or self._timeout_ms) + HARD_STOP_GRACE_MS
        outcome = self._call(self._invoke, self._open_handle(), action, input_text, options, hard_stop_ms=hard_stop_ms)
        if not isinstance(outcome, str):
            raise ConnectorError._from_record(outcome)
        try:
            output = json.loads(outcome)
        except ValueError:
            output = None
        if not isinstance(output, dict):
            raise ConnectorError("internal", f"`{action}` returned output that is not a JSON object")
        return output

    def list_actions(self) -> list[dict[str, Any]]:
        """Every action the connector offers: `id`, `title`, `description`, `category`,
        `inputSchema`, `outputSchema` (JSON Schemas), `permissions`, `readOnly`."""
        self._open_handle()
        return [
            {
                "id": action.id,
                "title": action.title,
                "description": action.description,
                "category": action.category,
                "inputSchema": json.loads(getattr(action, "input-schema")),
                "outputSchema": json.loads(getattr(action, "output-schema")),
                "permissions": list(action.permissions),
                "readOnly": getattr(action, "read-only"),
            }
            for action in self._call(self._list_actions)
        ]

    def describe(self) -> dict[str, Any]:
        """The settings in effect (no secrets), and the hosts the connection talks to."""
        return json.loads(self._call(self._describe, self._open_handle()))

    @property
    def captured_output(self) -> bytes:
        """The last bytes the component wrote to its standard output and error."""
        return b"".join(self._output)

    def close(self) -> None:
        """Forgets the connection's secrets and tokens and frees its instance."""
        with self._lock:
            if self._connection is not None:
                self._connection.drop(self._store)
                self._connection = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exception: object) -> None:
        self.close()

    # -- inside the sandbox's boundary -------------------------------------------------

    def _handle(self, store: Any, request: Any, options: Any) -> Any:
        """`wasi:http/outgoing-handler#handle`: the allowlist, then wasi-http's own handler."""
        scheme, authority = self._destination(store, request)
        self._requests_this_call += 1
        refusal = None
        if self._requests_this_call > self.limits.requests_per_invocation:
            refusal = "connection-limit-reached"
            # A component that ignores the refusal is stopped at the next epoch tick.
            self._request_cap_broken = True
            self._store.set_epoch_deadline(1)
        elif not self.allowed_hosts.permits(authority, scheme.tag if scheme is not None else None):
            refusal = "HTTP-request-denied"
            if authority not in self.refused and len(self.refused) < REFUSED_KEPT:
                self.refused.append(authority or "")
        if refusal is not None:
            # `handle` owns both handles: give them back before refusing.
            request.drop(store)
            if options is not None:
                options.drop(store)
            return wasm_component.Variant(refusal)
        return self._send(store, request, options)

    def _call(self, func: wasm_component.Func, *args: Any, hard_stop_ms: Optional[int] = None) -> Any:
        """Calls an export of the instance, within the hard deadline."""
        hard_stop_ms = hard_stop_ms or self.limits.hard_deadline_ms or HARD_STOP_GRACE_MS
        with self._lock:
            self._requests_this_call = 0
            self._request_cap_broken = False
            self._store.set_epoch_deadline(_ticks(hard_stop_ms))
            try:
                return func(self._store, *args)
            except wasmtime.WasmtimeError as error:
                # A trap leaves the instance unusable: the connection ends with it.
                self._connection = None
                raise self._stopped(error, hard_stop_ms) from None
            except Exception as error:
                # wasmtime-py re-raises an exception of the package's own outgoing handler
                # after the trap it caused: the instance is just as unusable.
                self._connection = None
                if isinstance(error, ConnectorError):
                    raise
                raise ConnectorError(
                    "internal", f"the host failed during the call: {type(error).__name__}: {error}"
                ) from error

    def _stopped(self, trap: wasmtime.WasmtimeError, hard_stop_ms: int) -> ConnectorError:
        """The typed error for a call the host or the runtime stopped with a trap."""
        cause = [line.strip() for line in str(trap).splitlines() if line.strip()]
        reason = cause[-1] if cause else type(trap).__name__
        if self._request_cap_broken:
            return ConnectorError(
                "transport",
                f"the call sent more than {self.limits.requests_per_invocation} requests "
                "(`limits.requests_per_invocation`) and was stopped",
            )
        if "interrupt" in reason:
            return ConnectorError(
                "transport", f"the call ran past the host's hard deadline of {hard_stop_ms} ms and was stopped"
            )
        if b"memory allocation of" in self.captured_output[-4096:]:
            return ConnectorError(
                "internal",
                f"the component ran out of memory (`limits.memory_bytes` is {self.limits.memory_bytes}) "
                f"and stopped: {reason}",
            )
        return ConnectorError("internal", f"the component stopped with a trap: {reason}")

    def _open_handle(self) -> wasm_component.ResourceAny:
        if self._connection is None:
            raise ConnectorError("not-connected", "the connection is closed; open a new one")
        return self._connection

    def _capture(self, data: bytes) -> int:
        self._output.append(bytes(data))
        self._output_size += len(data)
        while self._output_size > CAPTURED_OUTPUT_BYTES and len(self._output) > 1:
            self._output_size -= len(self._output.popleft())
        return len(data)


def _export(
    store: wasmtime.Store, instance: wasm_component.Instance, name: str, interface: Optional[str] = None
) -> wasm_component.Func:
    """The function `name` the instance exports (inside `interface`, when given)."""
    parent = instance.get_export_index(store, interface) if interface else None
    index = instance.get_export_index(store, name, parent) if parent or not interface else None
    func = instance.get_func(store, index) if index is not None else None
    if func is None:
        raise ConnectorError("internal", f"the component does not export `{name}`")
    return func


def _config_text(config: Union[Mapping[str, Any], str]) -> str:
    """The configuration as the JSON text the component takes."""
    if isinstance(config, str):
        try:
            parsed = json.loads(config)
        except ValueError as error:
            raise ConnectorError("invalid-config", f"`config` is not JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise ConnectorError("invalid-config", "`config` must be a JSON object")
        return config
    if not isinstance(config, Mapping):
        raise ConnectorError("invalid-config", f"`config` must be a dict (got {type(config).__name__})")
    try:
        return json.dumps(dict(config), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ConnectorError("invalid-config", f"`config` is not JSON: {error}") from None


def _weakly(method: Callable[..., Any], when_gone: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, holding its object weakly: wasmtime-py keeps the functions given to a
    linker or a WASI configuration in process-wide tables until the store goes, and a
    strong reference from there would keep the connection, and so the store, alive."""
    reference = weakref.WeakMethod(method)

    def call(*args: Any) -> Any:
        target = reference()
        return when_gone(*args) if target is None else target(*args)

    return call


def _refuse_when_gone(_store: Any, _request: Any, _options: Any) -> Any:
    raise ConnectorError("internal", "the connection was released during a call")


def _ticks(milliseconds: int) -> int:
    return max(1, math.ceil(milliseconds / 1000 / EPOCH_TICK_SECONDS))


class _EpochTicker:
    """Advances one engine's epoch from a daemon thread, so store deadlines measure time.
    The thread holds the engine weakly and ends once the engine is gone."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        thread = threading.Thread(
            target=self._run, args=(weakref.ref(engine),), name="graph-connector-epoch", daemon=True
        )
        thread.start()

    @staticmethod
    def _run(engine_ref: weakref.ref[wasmtime.Engine]) -> None:
        while True:
            time.sleep(EPOCH_TICK_SECONDS)
            engine = engine_ref()
            if engine is None:
                return
            engine.increment_epoch()
            del engine
