"""The floor for Python: the same ``GET /v1.0/users/{id}`` the connector sends, made with
the standard library's ``http.client`` on one persistent connection, the answer read and
parsed as JSON. What the package adds on top of this is the cost of the package,
wasmtime-py and the component.

    python3 raw_client.py --base http://127.0.0.1:PORT --token TOKEN --user-id ID [--calls 200] [--warmup 20] [--fresh-connections]

``--fresh-connections`` opens a connection per request instead (and closes it after the
answer), as wasmtime-py's and preview2-shim's wasi-http do: the floor of a host that does
not keep connections open.

Prints one JSON line in the shape of ``connector-host invoke --repeat``'s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from urllib.parse import quote, urlsplit

from summary import summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the fake's http://HOST:PORT")
    parser.add_argument("--token", required=True, help="the bearer token the fake expects")
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--calls", type=int, default=200, help="measured calls (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured calls first (default 20)")
    parser.add_argument("--fresh-connections", action="store_true", help="a new connection per request")
    arguments = parser.parse_args()
    if arguments.calls < 1 or arguments.warmup < 0:
        parser.error("--calls must be at least 1 and --warmup at least 0")

    base = urlsplit(arguments.base)
    path = f"/v1.0/users/{quote(arguments.user_id, safe='')}"
    headers = {"Authorization": f"Bearer {arguments.token}", "Accept": "application/json"}
    # One connection, kept open between requests, as the reference host's pool keeps its own.
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
    samples = []
    loop_started = time.perf_counter()
    for call in range(arguments.warmup + arguments.calls):
        if call == arguments.warmup:
            loop_started = time.perf_counter()
        started = time.perf_counter()
        if arguments.fresh_connections:
            connection.close()
            connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: status {response.status}")
        user = json.loads(body)
        elapsed = time.perf_counter() - started
        if user.get("id") != arguments.user_id:
            raise SystemExit(f"unexpected user: {body[:200]!r}")
        if call >= arguments.warmup:
            samples.append(elapsed * 1e6)
    loop_s = time.perf_counter() - loop_started
    connection.close()
    print(
        json.dumps(
            {
                "peer": "python-raw-fresh" if arguments.fresh_connections else "python-raw",
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
