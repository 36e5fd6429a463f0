#!/usr/bin/env bash
# Install the Debian packages the lab node needs to build and run, when missing (apt-get, Debian's
# mirrors). Idempotent: prints what it installs, nothing else.
#   ip (iproute2), nsenter (util-linux): namespaces, veths, bridge
#   gcc, make, bzip2, libc6-dev: building busybox from Debian's source package
#   libpcre2-8-0, libssl3, zlib1g, libcrypt1: the libraries Debian's nginx binary links
#   apt-get download/source, dpkg-deb: fetching busybox's source and nginx's packages without
#   installing them (installing nginx would start a host-wide nginx on port 80)
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "lab node: run as root (it creates network namespaces)" >&2
  exit 1
fi

need=()
for spec in ip:iproute2 nsenter:util-linux gcc:gcc make:make bzip2:bzip2 dpkg-deb:dpkg apt-get:apt; do
  command -v "${spec%%:*}" > /dev/null || need+=("${spec#*:}")
done
for spec in libc6-dev libpcre2-8-0 libssl3 zlib1g libcrypt1; do
  dpkg-query -W -f='${Status}' "$spec" 2> /dev/null | grep -q "install ok installed" || need+=("$spec")
done
if ((${#need[@]})); then
  echo "lab node: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
