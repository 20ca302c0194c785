"""A fake Microsoft Graph for packages/bench-hosts.sh: one process that every host measured
in a run talks to, so that they all pay the same server.

It listens on 127.0.0.1 only and speaks HTTP/1.1 with keep-alive (a client reuses its
connection, as the hosts' pools do against Graph). It answers three things:

- ``POST /{tenant}/oauth2/v2.0/token`` with a client-credentials grant: the fake's bearer
  token, valid for an hour;
- ``GET /v1.0/users/{id}`` with that token: a user of about 1 KB (``id`` is the id asked for);
- ``GET /_bench/counts``: how many requests of each kind it has answered and how many
  connections it has accepted, so the script can check that a host really sent its calls
  here, and see whether it kept its connection open.

Anything else gets Graph's error shape (401 without the token, 404 otherwise).

    python3 fake_graph.py [--token TOKEN]

prints one JSON line, ``{"port": ..., "base": "http://127.0.0.1:..."}``, once it is
listening, then serves until it is terminated (SIGTERM or SIGINT).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

TOKEN_PATH = re.compile(r"^/[^/]+/oauth2/v2\.0/token$")
USER_PATH = re.compile(r"^/v1\.0/users/([^/?]+)$")


def user(user_id: str) -> dict[str, Any]:
    """A user shaped like Graph's default `GET /users/{id}` answer plus the properties a
    directory sync asks for: about 1 KB of JSON."""
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": user_id,
        "businessPhones": ["+1 425 555 0109"],
        "displayName": "Adele Vance",
        "givenName": "Adele",
        "jobTitle": "Retail Manager",
        "mail": "AdeleV@contoso.com",
        "mobilePhone": "+1 425 555 0110",
        "officeLocation": "18/2111",
        "preferredLanguage": "en-US",
        "surname": "Vance",
        "userPrincipalName": "AdeleV@contoso.com",
        "accountEnabled": True,
        "city": "Bellevue",
        "companyName": "Contoso",
        "country": "United States",
        "department": "Retail",
        "employeeId": "1000123",
        "employeeType": "Employee",
        "createdDateTime": "2024-03-14T09:26:53Z",
        "mailNickname": "AdeleV",
        "onPremisesSyncEnabled": None,
        "postalCode": "98004",
        "state": "WA",
        "streetAddress": "205 108th Ave. NE, Suite 400",
        "usageLocation": "US",
        "userType": "Member",
        "proxyAddresses": ["SMTP:AdeleV@contoso.com", "smtp:AdeleV@contoso.onmicrosoft.com"],
        "otherMails": ["adele.vance@fabrikam.example"],
        "assignedLicenses": [
            {"disabledPlans": [], "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df"},
            {"disabledPlans": [], "skuId": "f30db892-07e9-47e9-837c-80727f46fd3d"},
        ],
        "passwordPolicies": "DisablePasswordExpiration",
    }


class Counts:
    """Requests answered, by kind; shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"token": 0, "user": 0, "other": 0, "connections": 0}

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def handler(token: str, counts: Counts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1: connections stay open between requests unless the client closes them.
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            counts.add("connections")
            # Without it, a small answer can wait for the client's delayed ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            body = self._read_body()
            if TOKEN_PATH.match(self.path):
                form = parse_qs(body.decode("utf-8", "replace"))
                if form.get("grant_type") == ["client_credentials"] and form.get("client_secret"):
                    counts.add("token")
                    self._send(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token})
                    return
                counts.add("other")
                self._send(400, {"error": "invalid_request", "error_description": "the fake takes client credentials"})
                return
            self._not_found()

        def do_GET(self) -> None:
            self._read_body()
            if self.path == "/_bench/counts":
                self._send(200, counts.snapshot())
                return
            found = USER_PATH.match(self.path)
            if not found:
                self._not_found()
                return
            if self.headers.get("Authorization") != f"Bearer {token}":
                counts.add("other")
                self._send(401, graph_error("InvalidAuthenticationToken", "the fake's token is missing"))
                return
            counts.add("user")
            self._send(200, user(unquote(found.group(1))))

        def _not_found(self) -> None:
            counts.add("other")
            self._send(404, graph_error("Request_ResourceNotFound", f"the fake has no {self.command} {self.path}"))

        def _read_body(self) -> bytes:
            # All of it, whichever framing the client chose, so the next request on the
            # connection starts where it should.
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _send(self, status: int, document: Any) -> None:
            body = json.dumps(document).encode()
            head = (
                f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n"
                "request-id: 5f4c9f7e-0000-4000-8000-000000000001\r\n"
                "\r\n"
            ).encode()
            # One write: the head and the body leave in the same segment.
            self.wfile.write(head + body)

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


def graph_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", default="bench-token", help="the bearer token the fake issues and expects")
    arguments = parser.parse_args()

    counts = Counts()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(arguments.token, counts))
    server.daemon_threads = True
    port = server.server_address[1]
    print(json.dumps({"port": port, "base": f"http://127.0.0.1:{port}"}), flush=True)

    def stop(*_args: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
