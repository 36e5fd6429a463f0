#!/usr/bin/env bash
# Build the NetworkPolicy oracles pinned in go.mod into a cache outside the tree, once:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/oracles/<tool>-<version>/bin/<tool>
# A tool already built at its pinned version is reused. Prints one line per tool, with the time taken.
# Usage: tests/oracles/build.sh [--print-dir TOOL]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/oracles"

# tool name -> Go package of its command (the module is the one go.mod pins)
declare -A PKG=(
  [cyclonus]=github.com/mattfenwick/cyclonus/cmd/cyclonus
)
declare -A MOD=(
  [cyclonus]=github.com/mattfenwick/cyclonus
)

if ! command -v go >/dev/null; then
  echo "oracles: 'go' is not on PATH; install Go >= 1.22 to build the oracles" >&2
  exit 2
fi

version_of() {
  (cd "$here" && go list -mod=readonly -m -f '{{.Version}}' "${MOD[$1]}")
}

if [[ "${1:-}" == "--print-dir" ]]; then
  tool="${2:?--print-dir needs a tool name}"
  echo "$cache/$tool-$(version_of "$tool")/bin"
  exit 0
fi

for tool in "${!PKG[@]}"; do
  version="$(version_of "$tool")"
  dest="$cache/$tool-$version/bin"
  if [[ -x "$dest/$tool" ]]; then
    echo "oracles: $tool $version already built: $dest/$tool"
    continue
  fi
  echo "oracles: building $tool $version from the Go module proxy (${PKG[$tool]}) ..."
  start=$SECONDS
  mkdir -p "$dest"
  tmp="$(mktemp "$dest/.$tool.XXXXXX")"
  (cd "$here" && CGO_ENABLED=0 nice go build -mod=readonly -trimpath -buildvcs=false -o "$tmp" "${PKG[$tool]}")
  mv "$tmp" "$dest/$tool"
  echo "oracles: $tool $version built in $((SECONDS - start)) s: $dest/$tool"
done
