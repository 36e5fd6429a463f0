#!/usr/bin/env bash
# Build the lab's cluster DNS (CoreDNS) and NetworkPolicy controller (kube-router) from the Go module
# proxy, once, into the cache outside the git tree (NETPOL_LAB_CACHE overrides the root):
#   ${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/lab/coredns-<version>/bin/coredns
#   ${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/lab/kube-router-<version>/bin/kube-router
# kube-proxy comes from the control plane's build (tests/lab/build/build.sh). A component whose binary
# is there and whose stamp (go.mod, go.sum, sources, Go version, flags) matches is reused; otherwise
# it is built, niced, one at a time (the control plane's build lock), showing how long it took.
#
#   tests/lab/net/build.sh            install iptables/ipset if missing, build what is missing
#   tests/lab/net/build.sh --print    print "<name>=<path>" for every binary, build nothing
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache_root=${NETPOL_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/lab}
coredns_dir="$cache_root/coredns-$COREDNS_VERSION"
kube_router_dir="$cache_root/kube-router-$KUBE_ROUTER_VERSION"

if [[ ${1:-} == --print ]]; then
  echo "coredns=$coredns_dir/bin/coredns"
  echo "kube-router=$kube_router_dir/bin/kube-router"
  exit 0
fi

export CGO_ENABLED=0
export GOFLAGS="-buildvcs=false -mod=readonly"
export GOTOOLCHAIN=local

die() { echo "lab net build: $*" >&2; exit 1; }
now() { date +%s; }
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# The go.mod files must require exactly the versions versions.env names.
check_pin() { # module dir, module path, version
  local got
  got=$(cd "$1" && go list -m -f '{{.Version}}' "$2")
  [[ $got == "$3" ]] || die "$1/go.mod requires $2 $got, versions.env says $3"
}

# build NAME VERSION MODULE_DIR OUT_DIR TARGET
build() {
  local name=$1 version=$2 moddir=$3 out=$4 target=$5 stamp t0 tmp
  stamp=$({ cat "$moddir"/go.mod "$moddir"/go.sum "$moddir"/*.go 2> /dev/null; go version; echo "$GOFLAGS $CGO_ENABLED $target"; } |
    sha256sum | cut -d' ' -f1)
  if [[ -x $out/bin/$name && -f $out/stamp && $(<"$out/stamp") == "$stamp" ]]; then
    echo "lab net build: $name $version: cached in $out/bin"
    return
  fi
  t0=$(now)
  echo "lab net build: $name $version: building into $out/bin ($(cd "$moddir" && go list -deps "$target" | wc -l) packages; a cold build takes minutes on 2 cores)"
  (cd "$moddir" && go mod download) || die "$name: downloading modules failed"
  mkdir -p "$cache_root"
  tmp=$(mktemp -d "$cache_root/.build-$name.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  (cd "$moddir" && nice -n 10 go build -trimpath -ldflags "-s -w" -o "$tmp/$name" "$target") || die "$name: go build failed"
  mkdir -p "$tmp/out/bin"
  mv "$tmp/$name" "$tmp/out/bin/$name"
  echo "$stamp" > "$tmp/out/stamp"
  echo "$(($(now) - t0)) $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$tmp/out/build-seconds"
  rm -rf "$out"
  mv "$tmp/out" "$out"
  echo "lab net build: $name $version: built in $(fmt_secs $(($(now) - t0))) -> $out/bin/$name"
}

"$here/install-deps.sh"
start=$(now)
mkdir -p "$cache_root"
# One Go build at a time per cache, shared with the control plane's build (tests/lab/build/build.sh).
exec 9> "$cache_root/.build.lock"
if ! flock -n 9; then
  echo "lab net build: another build holds $cache_root/.build.lock; waiting for it"
  flock 9
fi
check_pin "$here/coredns" github.com/coredns/coredns "$COREDNS_VERSION"
check_pin "$here/kube-router" github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION"
build coredns "$COREDNS_VERSION" "$here/coredns" "$coredns_dir" .
build kube-router "$KUBE_ROUTER_VERSION" "$here/kube-router" "$kube_router_dir" tool
echo "lab net build: done in $(fmt_secs $(($(now) - start)))"
