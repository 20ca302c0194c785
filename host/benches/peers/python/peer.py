"""One Python Graph client, timed against the live benchmark's local Graph look-alike.

Run by ``host/benches/live.rs --peers`` (see ``host/benches/peers/run.sh``)::

    peer.py --client httpx|msgraph-sdk --base URL --op users.get|users.list --user-id ID
            --token T --ca FILE --calls N --warmup W

One untimed first call (it opens the connection), W untimed warm-up calls, then N timed calls,
one after another on one reused client. The last stdout line is one JSON object with the
figures of the timed calls and the first call's time, in the shape the Rust peer prints.

Each call reads the whole body and deserializes it as a caller of that client would: httpx
parses it with ``Response.json()``; msgraph-sdk builds its ``User`` or
``UserCollectionResponse`` models through Kiota's JSON parse nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import ssl
import sys
import time
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import urlparse


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", required=True, choices=["httpx", "msgraph-sdk"])
    parser.add_argument("--base", required=True, help="the Graph base URL, e.g. https://127.0.0.1:PORT/v1.0")
    parser.add_argument("--op", required=True, choices=["users.get", "users.list"])
    parser.add_argument("--user-id", default="", help="the user users.get reads")
    parser.add_argument("--token", required=True, help="the access token sent as a bearer token")
    parser.add_argument("--ca", default=None, help="a PEM file of certificate authorities to trust")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    arguments = parser.parse_args(argv)
    arguments.base = arguments.base.rstrip("/")
    if arguments.op == "users.get" and not arguments.user_id:
        parser.error("--user-id is required for users.get")
    if arguments.calls < 1 or arguments.warmup < 0:
        parser.error("--calls must be at least 1 and --warmup at least 0")
    return arguments


def tls_context(ca: Optional[str]) -> ssl.SSLContext:
    """The system's trust store, plus ``ca`` when given."""
    context = ssl.create_default_context()
    if ca:
        context.load_verify_locations(cafile=ca)
    return context


def report_protocol(version: str) -> None:
    """For the benchmark's table: which protocol the client settled on with this server."""
    print(f"protocol: {version}", file=sys.stderr)


def figures(arguments: argparse.Namespace, first_ns: int, timed_ns: list[int], loop_ns: int) -> dict[str, Any]:
    """The timed calls' figures, with the nearest-rank percentiles the live benchmark uses."""
    timed = sorted(ns / 1000 for ns in timed_ns)
    n = len(timed)

    def percentile(fraction: float) -> float:
        rank = math.ceil(fraction * n)
        return timed[min(max(rank, 1), n) - 1]

    median = timed[n // 2] if n % 2 == 1 else (timed[n // 2 - 1] + timed[n // 2]) / 2
    return {
        "peer": arguments.client,
        "op": arguments.op,
        "n": n,
        "warmup": arguments.warmup,
        "loop_s": loop_ns / 1e9,
        "mean_us": sum(timed) / n,
        "median_us": median,
        "p90_us": percentile(0.90),
        "p99_us": percentile(0.99),
        "min_us": timed[0],
        "first_us": first_ns / 1000,
    }


def run_httpx(arguments: argparse.Namespace) -> dict[str, Any]:
    import httpx

    if arguments.op == "users.get":
        url = f"{arguments.base}/users/{arguments.user_id}"
    else:
        url = f"{arguments.base}/users"
    headers = {"Authorization": f"Bearer {arguments.token}", "Accept": "application/json"}
    with httpx.Client(verify=tls_context(arguments.ca)) as client:

        def call() -> httpx.Response:
            response = client.get(url, headers=headers)
            response.raise_for_status()
            response.json()
            return response

        started = time.perf_counter_ns()
        response = call()
        first = time.perf_counter_ns() - started
        report_protocol(response.http_version)
        for _ in range(arguments.warmup):
            call()
        timed = []
        looped = time.perf_counter_ns()
        for _ in range(arguments.calls):
            started = time.perf_counter_ns()
            call()
            timed.append(time.perf_counter_ns() - started)
        loop = time.perf_counter_ns() - looped
    return figures(arguments, first, timed, loop)


def run_msgraph(arguments: argparse.Namespace) -> dict[str, Any]:
    import httpx
    from kiota_abstractions.authentication import (
        AccessTokenProvider,
        AllowedHostsValidator,
        BaseBearerTokenAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.graph_request_adapter import options as graph_options
    from msgraph_core import GraphClientFactory
    from kiota_http.kiota_client_factory import DEFAULT_CONNECTION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT

    class FixedToken(AccessTokenProvider):
        """Hands out the one token the benchmark's server expects, for its host only."""

        def __init__(self, token: str, host: str) -> None:
            self._token = token
            self._hosts = AllowedHostsValidator([host])

        async def get_authorization_token(self, uri: str, additional_authentication_context: dict[str, Any] = {}) -> str:
            return self._token if self._hosts.is_url_host_valid(uri) else ""

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return self._hosts

    async def main() -> dict[str, Any]:
        # The SDK's own default client (Kiota's timeouts, HTTP/2 offered) and middleware
        # pipeline, with the benchmark's CA trusted and the local server as its base URL.
        # The SDK hides the response; an event hook on the first call only reads its protocol.
        protocols: list[str] = []

        async def note_protocol(response: httpx.Response) -> None:
            protocols.append(response.http_version)

        http_client = httpx.AsyncClient(
            event_hooks={"response": [note_protocol]},
            timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT, connect=DEFAULT_CONNECTION_TIMEOUT),
            http2=True,
            verify=tls_context(arguments.ca),
            base_url=arguments.base,
        )
        http_client = GraphClientFactory.create_with_default_middleware(client=http_client, options=graph_options)
        host = urlparse(arguments.base).hostname or ""
        auth = BaseBearerTokenAuthenticationProvider(FixedToken(arguments.token, host))
        adapter = GraphRequestAdapter(auth, http_client)
        adapter.base_url = arguments.base
        client = GraphServiceClient(request_adapter=adapter)

        call: Callable[[], Awaitable[Any]]
        if arguments.op == "users.get":

            def call() -> Awaitable[Any]:
                return client.users.by_user_id(arguments.user_id).get()

        else:

            def call() -> Awaitable[Any]:
                return client.users.get()

        async with http_client:
            started = time.perf_counter_ns()
            result = await call()
            first = time.perf_counter_ns() - started
            if result is None:
                raise RuntimeError(f"{arguments.op}: the SDK returned no body")
            http_client.event_hooks = {"request": [], "response": []}
            report_protocol(protocols[0] if protocols else "unknown")
            for _ in range(arguments.warmup):
                await call()
            timed = []
            looped = time.perf_counter_ns()
            for _ in range(arguments.calls):
                started = time.perf_counter_ns()
                await call()
                timed.append(time.perf_counter_ns() - started)
            loop = time.perf_counter_ns() - looped
        return figures(arguments, first, timed, loop)

    return asyncio.run(main())


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    try:
        result = run_httpx(arguments) if arguments.client == "httpx" else run_msgraph(arguments)
    except Exception as error:  # one line naming the failure, for the benchmark's table
        print(f"peer.py: {arguments.client} {arguments.op}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
