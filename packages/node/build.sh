#!/usr/bin/env bash
# Transpiles the repository's component into generated/ with the jco pinned in
# package-lock.json (instantiation mode: the package hands the component its own imports).
# packages/build.sh builds the component and sets GRAPH_CONNECTOR_WASM.
set -euo pipefail
cd "$(dirname "$0")"
wasm="${GRAPH_CONNECTOR_WASM:?run packages/build.sh node: it builds the component and sets GRAPH_CONNECTOR_WASM}"
if [ ! -x node_modules/.bin/jco ]; then
  npm ci --no-audit --no-fund --silent
fi
rm -rf generated
node_modules/.bin/jco transpile "$wasm" --name graph_connector --instantiation async --quiet --out-dir generated

# The generated JavaScript reads its imports without their version
# (`imports['wasi:cli/environment']`) while the generated .d.ts names them with it
# (`'wasi:cli/environment@0.2.12'`): make the types say what the code reads, and stop if a
# later jco changes either side.
js=generated/graph_connector.js
dts=generated/graph_connector.d.ts
grep -q "imports\['wasi:cli/environment'\]" "$js" || {
  echo "build.sh: $js no longer reads versionless import keys; revisit src/sandbox.js" >&2
  exit 1
}
# Only the ImportObject's keys: the exports object does carry the versioned name. The
# `connector:plugin/types` entry goes: it holds types only and the code never reads it.
sed -i "/^export interface ImportObject/,/^}/ {/^  'connector:plugin\/types@/d}" "$dts"
sed -i -E "/^export interface ImportObject/,/^}/ s/^(  '[a-z-]+:[a-z-]+\/[a-z-]+)@[0-9][0-9.]*(': typeof )/\1\2/" "$dts"
if sed -n '/^export interface ImportObject/,/^}/p' "$dts" | grep -q "^  '[^']*@[0-9]"; then
  echo "build.sh: $dts still names versioned import keys" >&2
  exit 1
fi
echo "packages/node: transpiled $(basename "$wasm") into packages/node/generated"

# The hostile test component (host/tests/hostile-component), for the sandbox tests: a
# component that reaches for hosts outside its allowlist and spins past its deadline.
if [ -n "${HOSTILE_COMPONENT_WASM:-}" ]; then
  rm -rf test/generated/hostile
  node_modules/.bin/jco transpile "$HOSTILE_COMPONENT_WASM" --name hostile_component --instantiation async \
    --quiet --out-dir test/generated/hostile
  echo "packages/node: transpiled $(basename "$HOSTILE_COMPONENT_WASM") into packages/node/test/generated/hostile"
fi
