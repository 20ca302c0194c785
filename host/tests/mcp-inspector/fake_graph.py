"""A Graph look-alike on 127.0.0.1 for run.sh: user `abc` at GET /v1.0/users/abc, a Graph 404
for anything else. It binds a free port, writes it to the file named by its first argument, and
appends each request it sees to the JSON-lines file named by its second."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT_FILE, LOG_FILE = sys.argv[1], sys.argv[2]
USER = {"id": "abc", "displayName": "Adele Vance", "mail": "AdeleV@contoso.com"}


class Graph(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with open(LOG_FILE, "a", encoding="utf-8") as log:
            seen = {"method": "GET", "path": self.path, "authorization": self.headers.get("authorization")}
            log.write(json.dumps(seen) + "\n")
        if self.path == "/v1.0/users/abc":
            self.answer(200, USER)
        else:
            self.answer(404, {"error": {"code": "Request_ResourceNotFound", "message": "Resource not found."}})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("request-id", "inspector-1")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Graph)
with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as port:
    port.write(str(server.server_address[1]))
# Written whole, then renamed: run.sh never reads half a port number.
__import__("os").replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
