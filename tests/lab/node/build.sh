#!/usr/bin/env bash
# Build the lab node once into the cache outside the git tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/lab/node-<VIRTUAL_KUBELET_VERSION>/
#     bin/netpol-lab-node          the node (virtual-kubelet + this directory's provider)
#     images/busybox/bin/          busybox built from Debian's source, one link per applet
#     images/nginx/bin/            Debian's nginx, dash as sh, a few coreutils
#     images/nginx-alpine/bin/     nginx and the busybox applets
#     nginx/                       nginx's html and mime.types (Debian's nginx-common)
# (NETPOL_LAB_CACHE overrides the cache root.) Each part is rebuilt only when its inputs change.
#
#   tests/lab/node/build.sh           build what is missing, print where it is
#   tests/lab/node/build.sh --print   print "node=<path>" and "images=<path>", build nothing
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"
cache_root=${NETPOL_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netpol-aks/lab}
out="$cache_root/node-$VIRTUAL_KUBELET_VERSION"

if [[ ${1:-} == --print ]]; then
  echo "node=$out/bin/netpol-lab-node"
  echo "images=$out/images"
  exit 0
fi

now() { date +%s; }
die() { echo "lab node build: $*" >&2; exit 1; }
start=$(now)
"$here/install-deps.sh"
mkdir -p "$out/bin" "$out/images" "$out/src"

grep -qE "^\s*github.com/virtual-kubelet/virtual-kubelet $VIRTUAL_KUBELET_VERSION\$" "$here/go.mod" ||
  grep -qE "^require github.com/virtual-kubelet/virtual-kubelet $VIRTUAL_KUBELET_VERSION\$" "$here/go.mod" ||
  die "$here/go.mod must require github.com/virtual-kubelet/virtual-kubelet $VIRTUAL_KUBELET_VERSION (tests/lab/versions.env)"

# --- the node binary ---------------------------------------------------------------------------
ldflags="-s -w -X main.version=$VIRTUAL_KUBELET_VERSION -X main.kubernetesVersion=$KUBERNETES_VERSION"
stamp=$({ cat "$here/go.mod" "$here/go.sum" "$here"/*.go; go version; echo "$ldflags"; } | sha256sum | cut -d' ' -f1)
if [[ -x $out/bin/netpol-lab-node && -f $out/bin/.stamp && $(<"$out/bin/.stamp") == "$stamp" ]]; then
  echo "lab node build: netpol-lab-node: cached in $out/bin"
else
  t0=$(now)
  echo "lab node build: netpol-lab-node (virtual-kubelet $VIRTUAL_KUBELET_VERSION): building (a cold build takes minutes on 2 cores)"
  (cd "$here" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=readonly" \
    nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$out/bin/netpol-lab-node.new" .)
  mv "$out/bin/netpol-lab-node.new" "$out/bin/netpol-lab-node"
  echo "$stamp" > "$out/bin/.stamp"
  echo "lab node build: netpol-lab-node built in $(($(now) - t0))s"
fi

# --- Debian packages, fetched with private apt configurations (the system's sources, apt state and
# dpkg are not touched): bookworm's binary packages for nginx, trixie's source package for busybox.
key=/usr/share/keyrings/debian-archive-keyring.gpg
apt_opts=()
use_apt() { # NAME SOURCES-LIST-TEXT: point apt_opts at a private configuration, updated once
  local dir="$out/src/apt-$1"
  mkdir -p "$dir/empty"
  apt_opts=(-o "Dir::State=$dir/state" -o "Dir::Cache=$dir/cache" -o "Dir::Etc::SourceList=$dir/sources.list"
    -o "Dir::Etc::SourceParts=$dir/empty" -o "Dir::Etc::Preferences=$dir/empty/preferences"
    -o "Dir::Etc::PreferencesParts=$dir/empty" -o "Dir::State::status=/var/lib/dpkg/status"
    -o "APT::Sandbox::User=root")
  if [[ ! -f $dir/sources.list || $(<"$dir/sources.list") != "$2" || ! -f $dir/.updated ]]; then
    mkdir -p "$dir/state/lists/partial" "$dir/cache/archives/partial" "$dir/empty"
    printf '%s\n' "$2" > "$dir/sources.list"
    apt-get "${apt_opts[@]}" -qq update || die "apt-get update (deb.debian.org) failed"
    touch "$dir/.updated"
  fi
}

# --- busybox -----------------------------------------------------------------------------------
bb_dir="$out/images/busybox/bin"
if [[ -x $bb_dir/busybox && $("$bb_dir/busybox" | head -1) == "BusyBox v$BUSYBOX_VERSION "* ]]; then
  echo "lab node build: busybox $BUSYBOX_VERSION: cached in $bb_dir"
else
  t0=$(now)
  use_apt busybox-src "deb-src [signed-by=$key] http://deb.debian.org/debian $BUSYBOX_DEBIAN_SUITE main"
  src="$out/src/busybox"
  rm -rf "$src" && mkdir -p "$src"
  echo "lab node build: busybox $BUSYBOX_VERSION: fetching Debian's source package ($BUSYBOX_DEBIAN_SUITE)"
  (cd "$src" && apt-get "${apt_opts[@]}" -qq source --download-only busybox > /dev/null) ||
    die "apt-get source busybox ($BUSYBOX_DEBIAN_SUITE) failed"
  tarball=$(find "$src" -maxdepth 1 -name "busybox_$BUSYBOX_VERSION.orig.tar.*" | head -1)
  [[ -n $tarball ]] || die "busybox_$BUSYBOX_VERSION.orig.tar.* not found in Debian's source package (pin BUSYBOX_VERSION to the suite's)"
  tar -C "$src" -xf "$tarball"
  echo "lab node build: busybox: compiling with upstream's defconfig (the busybox image's; tc left out: it does not build against current kernel headers)"
  (cd "$src/busybox-$BUSYBOX_VERSION" && make -s defconfig > /dev/null &&
    sed -i 's/^CONFIG_TC=y/# CONFIG_TC is not set/' .config &&
    nice -n 10 make -s -j2 busybox > "$src/build.log" 2>&1) || { tail -20 "$src/build.log"; die "busybox build failed"; }
  rm -rf "$bb_dir" && mkdir -p "$bb_dir"
  cp "$src/busybox-$BUSYBOX_VERSION/busybox" "$bb_dir/busybox"
  for applet in $("$bb_dir/busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$bb_dir/$applet"
  done
  rm -rf "$src/busybox-$BUSYBOX_VERSION"
  echo "lab node build: busybox $BUSYBOX_VERSION built in $(($(now) - t0))s ($("$bb_dir/busybox" --list | wc -l) applets)"
fi

# --- nginx -------------------------------------------------------------------------------------
ng="$out/images/nginx/bin"
if [[ -f $ng/.complete && $("$ng/nginx" -v 2>&1) == *"nginx/$NGINX_DEBIAN_VERSION"* ]]; then
  echo "lab node build: nginx $NGINX_DEBIAN_VERSION: cached in $ng"
else
  use_apt bookworm "deb [signed-by=$key] http://deb.debian.org/debian bookworm main
deb [signed-by=$key] http://deb.debian.org/debian-security bookworm-security main"
  debs="$out/src/nginx"
  rm -rf "$debs" && mkdir -p "$debs/root"
  (cd "$debs" && apt-get "${apt_opts[@]}" -qq download nginx nginx-common > /dev/null) || die "apt-get download nginx failed"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$debs/root"; done
  "$debs/root/usr/sbin/nginx" -v 2>&1 | grep -q "nginx/$NGINX_DEBIAN_VERSION" ||
    die "Debian's nginx is not $NGINX_DEBIAN_VERSION: $("$debs/root/usr/sbin/nginx" -v 2>&1)"
  rm -rf "$out/nginx" && mkdir -p "$out/nginx"
  cp -r "$debs/root/usr/share/nginx/html" "$out/nginx/html"
  cp "$debs/root/etc/nginx/mime.types" "$out/nginx/mime.types"
  rm -rf "$ng" && mkdir -p "$ng"
  cp "$debs/root/usr/sbin/nginx" "$ng/nginx"
  # The nginx image is Debian: dash is its sh; it has coreutils but no wget, nc or curl.
  cp /usr/bin/dash "$ng/dash" && ln -s dash "$ng/sh"
  for tool in cat echo env hostname id ls mkdir rm sleep true false uname; do
    src_tool=$(type -P "$tool") && cp "$src_tool" "$ng/$tool"
  done
  na="$out/images/nginx-alpine/bin"
  rm -rf "$na" && mkdir -p "$na"
  cp "$bb_dir/busybox" "$na/busybox"
  for applet in $("$na/busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$na/$applet"
  done
  cp "$debs/root/usr/sbin/nginx" "$na/nginx"
  rm -rf "$debs/root"
  touch "$ng/.complete"
  echo "lab node build: nginx $NGINX_DEBIAN_VERSION from Debian into $ng"
fi
echo "lab node build: done in $(($(now) - start))s: $out/bin/netpol-lab-node"
