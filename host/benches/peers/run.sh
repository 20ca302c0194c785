#!/usr/bin/env bash
# The live benchmark with the other Graph clients of issue 16 beside the connector, one run
# against the same local server (host/benches/live.rs --peers):
#   - builds the Rust peer (graph-rs-sdk, raw reqwest) into $CARGO_TARGET_DIR/peers (else
#     target/peers), with its own committed Cargo.lock;
#   - makes the Python venv host/benches/peers/python/.venv (httpx, msgraph-sdk) from the
#     hash-pinned requirements.txt;
#   - runs the bench with `--peers` and this script's arguments (e.g. --quick, --calls N).
# Not part of CI: benchmarks are run by hand.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

echo "run.sh: building the Rust peer (graph-rs-sdk, reqwest)" >&2
cargo build --release --locked --manifest-path "$here/rust/Cargo.toml" --target-dir "$target/peers"
export LIVE_PEER_RUST="$target/peers/release/peer"

venv="$here/python/.venv"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$here/python/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "run.sh: making $venv from requirements.txt" >&2
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --require-hashes --only-binary :all: -r "$here/python/requirements.txt"
    echo "$wanted" > "$stamp"
fi
export LIVE_PEER_PYTHON="$venv/bin/python"

cd "$root"
exec cargo bench -p connector-host --bench live --profile release -- --peers "$@"
