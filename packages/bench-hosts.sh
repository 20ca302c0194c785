#!/usr/bin/env bash
# Per-call cost of the component in each host, in one run: one fake Graph process
# (packages/bench/fake_graph.py, HTTP/1.1 keep-alive on 127.0.0.1) and, against it, warm
# `users.get` calls through
#   node-raw        Node's http.request on one kept-alive socket (the floor for Node)
#   node-raw-fresh  the same with a new connection per request, as preview2-shim's wasi-http
#                   makes them (the floor for a host that keeps no connection open)
#   node-jco-raw    the component transpiled by jco, called on the main thread with the stock
#                   preview2-shim: no worker, no allowlist, no limits (packages/bench/jco-raw.mjs)
#   node-package    the Node package (packages/node/bench.mjs)
#   python-raw      Python's http.client on one persistent connection (the floor for Python)
#   python-raw-fresh  the same with a new connection per request, as wasmtime-py's wasi-http
#                   makes them
#   python-wasmtime-raw  the component in wasmtime-py with its stock wasi-http: no gate, no
#                   limits (packages/bench/wasmtime_py_raw.py)
#   python-package  the Python package (packages/python/bench.py)
#   connector-host  the reference host (`invoke --repeat`)
# each after the same warm-up, one connection each, one after another. Prints a table (with
# the TCP connections each host opened to the fake) and the JSON lines, and checks with the
# fake's counts that every host sent its calls to it.
#
#   packages/bench-hosts.sh [--calls 200] [--warmup 20]
#
# Needs what packages/build.sh builds (the component, the Node package transpiled, the Python
# package's copy), node_modules in packages/node (npm ci), a Python with wasmtime-py
# ($PYTHON; by default the virtual environment .ci/run creates, else python3), and a
# connector-host binary ($CONNECTOR_HOST; by default target/release/connector-host). Every
# host runs the same component file ($GRAPH_CONNECTOR_WASM; by default the one
# packages/build.sh writes). The load average is printed from before and after the run: on a
# shared machine, compare figures of one run with each other, not across runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

calls=200
warmup=20
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls="${2:?--calls needs a number}"; shift 2 ;;
    --warmup) warmup="${2:?--warmup needs a number}"; shift 2 ;;
    *) echo "usage: packages/bench-hosts.sh [--calls N] [--warmup W]" >&2; exit 2 ;;
  esac
done
case "$calls$warmup" in
  *[!0-9]*) echo "bench-hosts.sh: --calls and --warmup take whole numbers" >&2; exit 2 ;;
esac
if [ "$calls" -lt 1 ]; then
  echo "bench-hosts.sh: --calls must be at least 1" >&2
  exit 2
fi

component="${GRAPH_CONNECTOR_WASM:-$root/target/component/wasm32-wasip2/component/graph_connector.wasm}"
host_bin="${CONNECTOR_HOST:-$root/target/release/connector-host}"
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  if [ -x target/ci-tools/python-package/bin/python ]; then
    PYTHON=target/ci-tools/python-package/bin/python
  fi
fi

missing() {
  echo "bench-hosts.sh: $1" >&2
  exit 2
}
[ -s "$component" ] || missing "no component at $component: run packages/build.sh (or set GRAPH_CONNECTOR_WASM)"
[ -s packages/node/generated/graph_connector.js ] || missing "packages/node is not built: run packages/build.sh node"
[ -d packages/node/node_modules/@bytecodealliance/preview2-shim ] || missing "no packages/node/node_modules: npm ci --prefix packages/node"
cmp -s "$component" packages/python/src/graph_connector/graph_connector.wasm ||
  missing "packages/python holds another component than $component: run packages/build.sh python"
[ -x "$host_bin" ] || missing "no connector-host at $host_bin: cargo build --release -p connector-host (or set CONNECTOR_HOST)"
"$PYTHON" -c 'import wasmtime' 2>/dev/null ||
  missing "$PYTHON has no wasmtime-py: pip install --require-hashes -r packages/python/requirements-test.txt (or set PYTHON)"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
work="$(mktemp -d)"
fake_pid=""
cleanup() {
  if [ -n "$fake_pid" ]; then
    kill "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The fake's token and the client secret are made up for this run; neither leaves the machine.
token="bench-token-$RANDOM$RANDOM"
python3 packages/bench/fake_graph.py --token "$token" >"$work/fake.json" &
fake_pid=$!
for _ in $(seq 100); do
  [ -s "$work/fake.json" ] && break
  sleep 0.1
done
[ -s "$work/fake.json" ] || missing "the fake Graph did not start"
port="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' "$work/fake.json")"
base="http://127.0.0.1:$port"
user_id="87d349ed-44d7-43e1-9a83-5f2406dee5bd"
cat >"$work/conn.json" <<EOF
{"auth": "clientCredentials", "tenantId": "contoso.onmicrosoft.com",
 "clientId": "11111111-2222-3333-4444-555555555555", "clientSecret": "bench-secret-$RANDOM$RANDOM",
 "loginBaseUrl": "$base", "graphBaseUrl": "$base/v1.0"}
EOF

counts() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$base/_bench/counts"
}

# Runs one host: its last stdout line (the JSON figures) goes to lines.jsonl, with the
# requests the fake saw while it ran.
run() {
  local name="$1"
  shift
  local before after
  before="$(counts)"
  echo "running $name" >&2
  if ! "$@" >"$work/$name.out"; then
    cat "$work/$name.out" >&2
    echo "bench-hosts.sh: $name failed" >&2
    exit 1
  fi
  after="$(counts)"
  python3 - "$name" "$before" "$after" "$(tail -n 1 "$work/$name.out")" "$((calls + warmup))" >>"$work/lines.jsonl" <<'EOF'
import json, sys
name, before, after, line, expected = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
seen = {kind: after[kind] - before[kind] for kind in after}
seen["connections"] -= 1  # the script's own request for the counts
if seen["user"] != expected or seen["other"]:
    raise SystemExit(f"bench-hosts.sh: {name} sent {seen} to the fake, expected {expected} user requests")
line["host"] = name
line["fake_requests"] = seen
print(json.dumps(line))
EOF
}

run node-raw node packages/bench/raw-client.mjs --base "$base" --token "$token" --user-id "$user_id" \
  --calls "$calls" --warmup "$warmup"
run node-raw-fresh node packages/bench/raw-client.mjs --base "$base" --token "$token" --user-id "$user_id" \
  --calls "$calls" --warmup "$warmup" --fresh-connections
# The component transpiled by the Node package's pinned jco, default mode, nothing around it.
mkdir -p "$work/jco-raw"
echo '{"type": "module"}' >"$work/jco-raw/package.json"
ln -s "$root/packages/node/node_modules" "$work/jco-raw/node_modules"
packages/node/node_modules/.bin/jco transpile "$component" --name graph_connector --quiet --out-dir "$work/jco-raw/out"
run node-jco-raw node packages/bench/jco-raw.mjs --module "$work/jco-raw/out/graph_connector.js" \
  --config "$work/conn.json" --user-id "$user_id" --calls "$calls" --warmup "$warmup"
run node-package node packages/node/bench.mjs "$calls" "$warmup" --config "$work/conn.json" \
  --allow-host "127.0.0.1:$port" --user-id "$user_id"
run python-raw "$PYTHON" packages/bench/raw_client.py --base "$base" --token "$token" --user-id "$user_id" \
  --calls "$calls" --warmup "$warmup"
run python-raw-fresh "$PYTHON" packages/bench/raw_client.py --base "$base" --token "$token" --user-id "$user_id" \
  --calls "$calls" --warmup "$warmup" --fresh-connections
run python-wasmtime-raw "$PYTHON" packages/bench/wasmtime_py_raw.py --component "$component" \
  --config "$work/conn.json" --user-id "$user_id" --calls "$calls" --warmup "$warmup"
run python-package env PYTHONPATH="$root/packages/python/src" "$PYTHON" packages/python/bench.py \
  --calls "$calls" --warmup "$warmup" --config "$work/conn.json" --allow-host "127.0.0.1:$port" --user-id "$user_id"
run connector-host "$host_bin" invoke --component "$component" --config "$work/conn.json" --action users.get \
  --input "{\"userId\":\"$user_id\"}" --repeat "$calls" --warmup "$warmup" --allow-host "127.0.0.1:$port"

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git describe --always --dirty 2>/dev/null || echo unknown)," \
  "$(nproc) cores, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "# node $(node --version)," \
  "$("$PYTHON" -c 'import importlib.metadata as m, platform; print("python", platform.python_version() + ", wasmtime-py", m.version("wasmtime"))'),"\
  "component sha256 $(sha256sum "$component" | cut -c1-12)"
python3 - "$work/lines.jsonl" <<'EOF'
import json, sys
lines = [json.loads(text) for text in open(sys.argv[1])]
floors = {
    "node-raw-fresh": "node-raw",
    "node-jco-raw": "node-raw",
    "node-package": "node-raw",
    "python-raw-fresh": "python-raw",
    "python-wasmtime-raw": "python-raw",
    "python-package": "python-raw",
}
medians = {line["host"]: line["median_us"] for line in lines}
print(f"{'host':<20}{'calls':>7}{'median µs':>11}{'p90 µs':>9}{'min µs':>9}{'conns':>7}  over its language's floor (median)")
for line in lines:
    floor = floors.get(line["host"])
    over = f"+{line['median_us'] - medians[floor]:.0f} µs" if floor else ""
    conns = line["fake_requests"]["connections"]
    print(f"{line['host']:<20}{line['n']:>7}{line['median_us']:>11.0f}{line['p90_us']:>9.0f}{line['min_us']:>9.0f}{conns:>7}  {over}")
EOF
cat "$work/lines.jsonl"
