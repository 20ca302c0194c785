#!/usr/bin/env bash
# Copies the component that `cargo build` produced into the Python package. Run through
# `packages/build.sh python`, which builds the component and sets GRAPH_CONNECTOR_WASM.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
component="${GRAPH_CONNECTOR_WASM:?run packages/build.sh python (it builds the component and sets GRAPH_CONNECTOR_WASM)}"
test -s "$component"
cp "$component" "$here/src/graph_connector/graph_connector.wasm"
