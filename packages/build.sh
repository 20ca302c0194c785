#!/usr/bin/env bash
# Builds the Node and Python packages from the component that `cargo build` produces: one
# script, so both packages always ship the same bytes as the reference host embeds.
#
#   packages/build.sh            # component, then every package
#   packages/build.sh node       # component, then the named package(s) only
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The same nested build, packages, profile and target dir as the host's build script
# (host/build.rs), so a component the host already built is reused rather than compiled
# again, with the same features (the two packages are resolved together). The hostile test
# component is for the packages' sandbox tests.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --quiet -p graph-connector -p hostile-component --target wasm32-wasip2 --profile component \
  --target-dir target/component
component="$root/target/component/wasm32-wasip2/component/graph_connector.wasm"
hostile="$root/target/component/wasm32-wasip2/component/hostile_component.wasm"
test -s "$component"
test -s "$hostile"
export GRAPH_CONNECTOR_WASM="$component" HOSTILE_COMPONENT_WASM="$hostile"

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  packages=(node python)
fi
for package in "${packages[@]}"; do
  script="$root/packages/$package/build.sh"
  if [ ! -x "$script" ]; then
    echo "packages/build.sh: no package named '$package' (expected $script)" >&2
    exit 2
  fi
  "$script"
done
