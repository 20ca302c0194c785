"""Per-call cost of the Python package: warm `users.get` calls against a fake Graph on
127.0.0.1, printed as one JSON line (microseconds per call).

    python packages/python/bench.py [--calls 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

from fake_graph import FakeGraph  # noqa: E402

from graph_connector import Connector  # noqa: E402

USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
USER = {"id": USER_ID, "displayName": "Adele Vance", "mail": "AdeleV@contoso.com"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="measured calls (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured calls first (default 20)")
    arguments = parser.parse_args()

    graph = FakeGraph()
    for _ in range(arguments.warmup + arguments.calls):
        graph.answer("GET", f"/v1.0/users/{USER_ID}", body=USER)
    config = {"auth": "accessToken", "accessToken": "bench-token", "graphBaseUrl": f"{graph.base}/v1.0"}
    started = time.perf_counter()
    connection = Connector.open(config, allow_hosts=[graph.authority])
    open_us = (time.perf_counter() - started) * 1e6
    samples = []
    with connection:
        for call in range(arguments.warmup + arguments.calls):
            started = time.perf_counter()
            output = connection.invoke("users.get", {"userId": USER_ID})
            elapsed = time.perf_counter() - started
            if output != USER:
                raise SystemExit(f"unexpected output: {output!r}")
            if call >= arguments.warmup:
                samples.append(elapsed * 1e6)
    graph.close()
    samples.sort()
    print(
        json.dumps(
            {
                "host": "python-package",
                "action": "users.get",
                "calls": len(samples),
                "median_us": round(statistics.median(samples)),
                "p90_us": round(samples[int(len(samples) * 0.9) - 1]),
                "open_us": round(open_us),
            }
        )
    )


if __name__ == "__main__":
    main()
