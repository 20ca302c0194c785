"""A fake Microsoft Graph and token endpoint on 127.0.0.1, run in a thread.

Tests queue the answers, then read back every request exactly as it arrived.
"""

from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union
from urllib.parse import parse_qs, urlsplit


@dataclass
class SeenRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, list[str]]:
        """The body as an `application/x-www-form-urlencoded` form."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Answer:
    """One queued response."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, (bytes, str)):
            data = self.body.encode() if isinstance(self.body, str) else self.body
        else:
            data = json.dumps(self.body).encode()
            headers.setdefault("content-type", "application/json")
        return data, headers


Responder = Union[Answer, Callable[[SeenRequest], Answer]]


class FakeGraph:
    """Answers queued per `METHOD path?query`, in order; anything unexpected gets a 500
    naming it, so a test sees it in its assertions."""

    def __init__(self) -> None:
        self.requests: list[SeenRequest] = []
        self._answers: dict[str, collections.deque[Responder]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = self._read_body()
                parts = urlsplit(self.path)
                seen = SeenRequest(
                    self.command,
                    parts.path,
                    parts.query,
                    {name.lower(): value for name, value in self.headers.items()},
                    body,
                )
                answer = fake._next_answer(seen)
                data, headers = answer.encode()
                try:
                    self.send_response(answer.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up first (a deadline test): nothing left to answer.
                    self.close_connection = True

            def _read_body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            # trailers end with an empty line
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        """`127.0.0.1:PORT`, as an `allow_hosts` entry."""
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://{self.authority}"

    def answer(self, method: str, target: str, responder: Optional[Responder] = None, **answer: Any) -> None:
        """Queues `responder` (or `Answer(**answer)`) for the next `method target`
        (`target` is the path with its query, as sent)."""
        with self._lock:
            self._answers[f"{method} {target}"].append(responder or Answer(**answer))

    def _next_answer(self, seen: SeenRequest) -> Answer:
        target = seen.path + (f"?{seen.query}" if seen.query else "")
        with self._lock:
            self.requests.append(seen)
            queue = self._answers.get(f"{seen.method} {target}")
            responder = queue.popleft() if queue else None
        if responder is None:
            return Answer(
                500, {"error": {"code": "fakeUnexpected", "message": f"no answer queued for {seen.method} {target}"}}
            )
        return responder(seen) if callable(responder) else responder

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
