"""Per-call cost of the Python package: warm `users.get` calls on one connection, printed as
one JSON line in the shape of `connector-host invoke --repeat`'s (microseconds per call,
with the same median and percentiles, ../bench/summary.py).

    python packages/python/bench.py [--calls 200] [--warmup 20]

against a fake Graph of its own (tests/fake_graph.py), or against one already running, as
packages/bench-hosts.sh runs it so that every host talks to the same server:

    python packages/python/bench.py --config conn.json --allow-host 127.0.0.1:PORT [--user-id ID]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here / "tests"))
# After tests/: packages/bench has a fake_graph of its own (a server process).
sys.path.append(str(here.parent / "bench"))

from summary import summary  # noqa: E402

from graph_connector import Connector  # noqa: E402

USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
USER = {"id": USER_ID, "displayName": "Adele Vance", "mail": "AdeleV@contoso.com"}


def own_fake(calls: int) -> tuple[dict[str, Any], list[str], Callable[[], None]]:
    """A fake Graph in this process that answers `calls` user requests: the connection's
    settings, its allowed hosts, and how to stop it."""
    from fake_graph import FakeGraph

    graph = FakeGraph()
    for _ in range(calls):
        graph.answer("GET", f"/v1.0/users/{USER_ID}", body=USER)
    config = {"auth": "accessToken", "accessToken": "bench-token", "graphBaseUrl": f"{graph.base}/v1.0"}
    return config, [graph.authority], graph.close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="measured calls (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured calls first (default 20)")
    parser.add_argument("--config", type=Path, help="connection settings (JSON file) of a Graph already running")
    parser.add_argument(
        "--allow-host", action="append", default=[], metavar="HOST[:PORT]", help="also allow this host (repeatable)"
    )
    parser.add_argument("--user-id", help=f"the user to get (default {USER_ID})")
    arguments = parser.parse_args()
    if arguments.calls < 1 or arguments.warmup < 0:
        parser.error("--calls must be at least 1 and --warmup at least 0")

    if arguments.config is not None:
        config = json.loads(arguments.config.read_text(encoding="utf-8"))
        allow_hosts, stop, expected = list(arguments.allow_host), None, None
        user_id = arguments.user_id or USER_ID
    else:
        if arguments.user_id is not None:
            parser.error("--user-id needs --config (the package's own fake knows one user)")
        config, allow_hosts, stop = own_fake(arguments.warmup + arguments.calls)
        allow_hosts += arguments.allow_host
        expected, user_id = USER, USER_ID

    started = time.perf_counter()
    connection = Connector.open(config, allow_hosts=allow_hosts)
    open_us = (time.perf_counter() - started) * 1e6
    samples = []
    try:
        with connection:
            loop_started = time.perf_counter()
            for call in range(arguments.warmup + arguments.calls):
                if call == arguments.warmup:
                    loop_started = time.perf_counter()
                started = time.perf_counter()
                output = connection.invoke("users.get", {"userId": user_id})
                elapsed = time.perf_counter() - started
                if output.get("id") != user_id or (expected is not None and output != expected):
                    raise SystemExit(f"unexpected output: {output!r}")
                if call >= arguments.warmup:
                    samples.append(elapsed * 1e6)
            loop_s = time.perf_counter() - loop_started
    finally:
        if stop is not None:
            stop()

    # The keys of the reference host's `invoke --repeat` line, so the figures sit side by side.
    print(
        json.dumps(
            {
                "peer": "python-package",
                "op": "users.get",
                "n": len(samples),
                "warmup": arguments.warmup,
                "loop_s": round(loop_s, 3),
                **summary(samples),
                "open_us": round(open_us),
            }
        )
    )


if __name__ == "__main__":
    main()
