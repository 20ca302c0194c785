"""The component in wasmtime-py and nothing else: the stock ``add_wasip2()`` and
``add_wasi_http()`` (no allowlist, no request cap, no memory cap, no deadline), one
connection, warm ``users.get`` calls. Beside the Python package, it shows what the package's
sandbox (its outgoing gate, its limits) adds, and what wasmtime-py costs by itself.

    python3 wasmtime_py_raw.py --component graph_connector.wasm --config conn.json --user-id ID [--calls 200] [--warmup 20]

Prints one JSON line in the shape of ``connector-host invoke --repeat``'s.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import wasmtime
from wasmtime import component as wasm_component

from summary import summary

CONNECTIONS_INTERFACE = "connector:plugin/connections@0.2.0"


def export(store: wasmtime.Store, instance: wasm_component.Instance, name: str) -> wasm_component.Func:
    parent = instance.get_export_index(store, CONNECTIONS_INTERFACE)
    index = instance.get_export_index(store, name, parent) if parent is not None else None
    func = instance.get_func(store, index) if index is not None else None
    if func is None:
        raise SystemExit(f"the component does not export {CONNECTIONS_INTERFACE}#{name}")
    return func


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--component", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True, help="connection settings (JSON file)")
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--calls", type=int, default=200, help="measured calls (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured calls first (default 20)")
    arguments = parser.parse_args()
    if arguments.calls < 1 or arguments.warmup < 0:
        parser.error("--calls must be at least 1 and --warmup at least 0")

    engine = wasmtime.Engine()
    component = wasm_component.Component(engine, arguments.component.read_bytes())
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    store.set_wasi_http()
    linker = wasm_component.Linker(engine)
    linker.add_wasip2()
    linker.add_wasi_http()
    instance = linker.instantiate(store, component)
    connection = export(store, instance, "[static]connection.open")(store, arguments.config.read_text(encoding="utf-8"))
    if not isinstance(connection, wasm_component.ResourceAny):
        raise SystemExit(f"connection.open failed: {connection!r}")
    invoke = export(store, instance, "[method]connection.invoke")
    options = wasm_component.Record()
    setattr(options, "timeout-ms", None)
    setattr(options, "dry-run", False)
    input_text = json.dumps({"userId": arguments.user_id})

    samples = []
    loop_started = time.perf_counter()
    for call in range(arguments.warmup + arguments.calls):
        if call == arguments.warmup:
            loop_started = time.perf_counter()
        started = time.perf_counter()
        outcome = invoke(store, connection, "users.get", input_text, options)
        output = json.loads(outcome) if isinstance(outcome, str) else None
        elapsed = time.perf_counter() - started
        if not isinstance(output, dict) or output.get("id") != arguments.user_id:
            raise SystemExit(f"unexpected outcome: {outcome!r}")
        if call >= arguments.warmup:
            samples.append(elapsed * 1e6)
    loop_s = time.perf_counter() - loop_started
    print(
        json.dumps(
            {
                "peer": "python-wasmtime-raw",
                "op": "users.get",
                "n": len(samples),
                "warmup": arguments.warmup,
                "loop_s": round(loop_s, 3),
                **summary(samples),
            }
        )
    )


if __name__ == "__main__":
    main()
