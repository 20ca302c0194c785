#!/usr/bin/env bash
# The MCP Inspector's CLI mode (pinned in package-lock.json) against `connector-host mcp`:
# it starts the server from an `mcpServers` configuration (the one README shows), lists the
# tools and calls users_get against a Graph look-alike on 127.0.0.1 (fake_graph.py).
# Usage: host/tests/mcp-inspector/run.sh [path/to/connector-host]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
host="$(realpath "${1:-$here/../../../target/debug/connector-host}")"
work="$(mktemp -d)"
trap 'kill "$graph" 2>/dev/null || true; rm -rf "$work"' EXIT

npm ci --prefix "$here" --no-audit --no-fund --silent

python3 "$here/fake_graph.py" "$work/port" "$work/requests.jsonl" &
graph=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port="$(cat "$work/port")"

cat > "$work/connection.json" <<JSON
{"auth": "accessToken", "accessToken": "t", "graphBaseUrl": "http://127.0.0.1:$port/v1.0"}
JSON
cat > "$work/mcp.json" <<JSON
{"mcpServers": {"graph": {"command": "$host",
  "args": ["mcp", "--config", "$work/connection.json", "--allow-host", "127.0.0.1:$port", "--read-only"]}}}
JSON

export MCP_INSPECTOR_SECRET_STORE=memory # nothing to keep; no keychain on CI machines
inspector=("$here/node_modules/.bin/mcp-inspector" --cli --config "$work/mcp.json" --server graph)
# --strict: the Inspector's schema portability check reports every construct some model API
# refuses or may drop; an error fails the command, and here a warning fails the run too.
"${inspector[@]}" --method tools/list --strict > "$work/tools.json" 2> "$work/tools.err" \
  || { cat "$work/tools.err" >&2; exit 1; }
if grep -q '^Warning: ' "$work/tools.err"; then cat "$work/tools.err" >&2; exit 1; fi
"${inspector[@]}" --method tools/call --tool-name users_get --tool-arg userId=abc > "$work/call.json"

python3 - "$work" <<'PY'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
tools = {tool["name"]: tool for tool in json.loads((work / "tools.json").read_text())["tools"]}
get = tools["users_get"]
assert get["title"] == "Get user", get
assert get["inputSchema"]["required"] == ["userId"], get["inputSchema"]
assert get["annotations"]["readOnlyHint"] is True, get["annotations"]
assert "users_delete" not in tools, "--read-only offers no write tool"
assert all(tool["annotations"]["readOnlyHint"] for tool in tools.values())
call = json.loads((work / "call.json").read_text())
user = {"id": "abc", "displayName": "Adele Vance", "mail": "AdeleV@contoso.com"}
assert call.get("isError") in (None, False), call
assert call["structuredContent"] == user, call
assert json.loads(call["content"][0]["text"]) == user, call
seen = [json.loads(line) for line in (work / "requests.jsonl").read_text().splitlines()]
assert seen == [{"method": "GET", "path": "/v1.0/users/abc", "authorization": "Bearer t"}], seen
print(f"mcp-inspector: {len(tools)} tools listed; users_get called and checked")
PY
