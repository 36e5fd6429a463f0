#!/usr/bin/env bash
# Build the real lab's components from the Go module proxy, once, into a cache outside the git tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/lab/<component>-<version>/bin/
# (NETPOL_LAB_CACHE overrides the root). A component whose binaries are there and whose stamp (go.mod,
# go.sum, Go version, flags) matches is reused; otherwise it is built, showing progress and how long it
# took. Versions come from ../versions.env; the go.mod files here must agree with it (checked below).
#
#   tests/lab/build/build.sh            build what is missing, print where the binaries are
#   tests/lab/build/build.sh --print    print "<name>=<path>" for every binary, build nothing
set -euo pipefail
shopt -s lastpipe  # the progress loop below runs in this shell, so its package count survives it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
cache_root=${NETPOL_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/lab}

export CGO_ENABLED=0
export GOFLAGS="-buildvcs=false -mod=readonly"
# The build modules say `go 1.26.0`: the machine's Go is new enough, never fetch another toolchain.
export GOTOOLCHAIN=local

k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
k8s_dir="$cache_root/kubernetes-$KUBERNETES_VERSION"
etcd_dir="$cache_root/etcd-$ETCD_VERSION"

if [[ ${1:-} == --print ]]; then
  for b in "${k8s_bins[@]}"; do echo "$b=$k8s_dir/bin/$b"; done
  echo "etcd=$etcd_dir/bin/etcd"
  exit 0
fi

die() { echo "lab build: $*" >&2; exit 1; }
now() { date +%s; }
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# go.mod must pin exactly what versions.env says, and every staging module k8s.io/kubernetes replaces
# with a local path must be pinned to the published staging version.
check_kubernetes_pins() {
  local mod="$here/kubernetes/go.mod" upstream pinned missing=()
  [[ $(cd "$here/kubernetes" && go list -m -f '{{.Version}}' k8s.io/kubernetes) == "$KUBERNETES_VERSION" ]] ||
    die "$mod must require k8s.io/kubernetes $KUBERNETES_VERSION (KUBERNETES_VERSION in versions.env)"
  pinned=$(cd "$here/kubernetes" && go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    print(r["Old"]["Path"], r["New"]["Path"], r["New"].get("Version", ""))')
  upstream=$(cd "$here/kubernetes" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f $upstream ]] || die "could not download the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
  while read -r m; do
    grep -qxF "$m $m $KUBERNETES_STAGING_VERSION" <<<"$pinned" || missing+=("$m")
  done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$upstream")
  ((${#missing[@]} == 0)) ||
    die "$mod does not pin these staging modules to $KUBERNETES_STAGING_VERSION: ${missing[*]}"
}

check_etcd_pins() {
  [[ $(cd "$here/etcd" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) == "$ETCD_VERSION" ]] ||
    die "$here/etcd/go.mod must require go.etcd.io/etcd/server/v3 $ETCD_VERSION (ETCD_VERSION in versions.env)"
}

stamp_of() { # module dir, ldflags
  { cat "$1/go.mod" "$1/go.sum"; go version; echo "$GOFLAGS $CGO_ENABLED $2"; } | sha256sum | cut -d' ' -f1
}

# build_component NAME VERSION MODULE_DIR OUT_DIR LDFLAGS BIN...
build_component() {
  local name=$1 version=$2 moddir=$3 out=$4 ldflags=$5
  shift 5
  local bins=("$@") stamp have=1 b
  stamp=$(stamp_of "$moddir" "$ldflags")
  for b in "${bins[@]}"; do [[ -x $out/bin/$b ]] || have=0; done
  if ((have)) && [[ -f $out/stamp && $(<"$out/stamp") == "$stamp" ]]; then
    echo "lab build: $name $version: cached in $out/bin"
    return
  fi
  local t0 t1 total tmp line n=0
  t0=$(now)
  echo "lab build: $name $version: building ${bins[*]} into $out/bin (a cold build takes a long time on 2 cores)"
  (cd "$moddir" && go mod download) || die "$name: downloading modules failed"
  total=$(cd "$moddir" && go list -deps tool | wc -l)
  t1=$(now)
  echo "lab build: $name: modules ready after $(fmt_secs $((t1 - t0))); compiling up to $total packages"
  mkdir -p "$cache_root"
  tmp=$(mktemp -d "$cache_root/.build-$name.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  # go build -v names each package as it compiles it (only those not in the Go build cache).
  (cd "$moddir" && nice -n 10 go build -v -trimpath -ldflags "$ldflags" -o "$tmp/" tool 2>&1) |
    while IFS= read -r line; do
      if [[ $line =~ ^[^\ :]+$ ]]; then
        n=$((n + 1))
        ((n % 100)) || echo "lab build: $name: $n/$total packages compiled, $(fmt_secs $(($(now) - t0)))"
      else
        echo "$line"
      fi
    done
  # go build names a binary after its package path, without a major version suffix (.../server/v3 ->
  # server); a component may want another name.
  for b in "${bins[@]}"; do
    [[ -n ${rename[$b]:-} && -x $tmp/${rename[$b]} ]] && mv "$tmp/${rename[$b]}" "$tmp/$b"
    [[ -x $tmp/$b ]] || die "$name: $b was not built (see the errors above)"
  done
  rm -rf "$out.old"
  [[ -d $out ]] && mv "$out" "$out.old"
  mkdir -p "$tmp/out/bin"
  for b in "${bins[@]}"; do mv "$tmp/$b" "$tmp/out/bin/$b"; done
  echo "$stamp" > "$tmp/out/stamp"
  t1=$(now)
  # How long this build took, for benchmarks/bench_lab.py: seconds, when, and how warm Go's cache was.
  echo "$((t1 - t0)) $(date -u +%Y-%m-%dT%H:%M:%SZ) $n/$total" > "$tmp/out/build-seconds"
  mv "$tmp/out" "$out"
  rm -rf "$out.old"
  echo "lab build: $name $version: built in $(fmt_secs $((t1 - t0))) ($n of $total packages compiled) -> $out/bin"
}

declare -A rename=([etcd]=server)
start=$(now)
# One build at a time per cache (parallel test workers, two checkouts sharing the cache).
mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
if ! flock -n 9; then
  echo "lab build: another build holds $cache_root/.build.lock; waiting for it"
  flock 9
fi
check_kubernetes_pins
check_etcd_pins
minor=${KUBERNETES_VERSION#v1.}
minor=${minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean"
done
build_component etcd "$ETCD_VERSION" "$here/etcd" "$etcd_dir" "-s -w" etcd
build_component kubernetes "$KUBERNETES_VERSION" "$here/kubernetes" "$k8s_dir" "$k8s_ldflags" "${k8s_bins[@]}"
echo "lab build: done in $(fmt_secs $(($(now) - start)))"
