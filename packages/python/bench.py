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
        loop_started = time.perf_counter()
        for call in range(arguments.warmup + arguments.calls):
            if call == arguments.warmup:
                loop_started = time.perf_counter()
            started = time.perf_counter()
            output = connection.invoke("users.get", {"userId": USER_ID})
            elapsed = time.perf_counter() - started
            if output != USER:
                raise SystemExit(f"unexpected output: {output!r}")
            if call >= arguments.warmup:
                samples.append(elapsed * 1e6)
        loop_s = time.perf_counter() - loop_started
    graph.close()
    samples.sort()

    def percentile(fraction: float) -> int:
        return round(samples[min(len(samples) - 1, int(len(samples) * fraction))])

    # The keys of the reference host's `invoke --repeat` line, so the figures sit side by side.
    print(
        json.dumps(
            {
                "peer": "python-package",
                "op": "users.get",
                "n": len(samples),
                "warmup": arguments.warmup,
                "loop_s": round(loop_s, 3),
                "mean_us": round(statistics.fmean(samples)),
                "median_us": round(statistics.median(samples)),
                "p90_us": percentile(0.9),
                "p99_us": percentile(0.99),
                "min_us": round(samples[0]),
                "open_us": round(open_us),
            }
        )
    )


if __name__ == "__main__":
    main()
