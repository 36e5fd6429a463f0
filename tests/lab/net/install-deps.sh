#!/usr/bin/env bash
# Install the Debian packages the lab's Services, DNS and NetworkPolicy components need, when
# missing (apt-get, Debian's mirrors). Idempotent: prints what it installs, nothing else.
#   iptables: kube-proxy (iptables mode) and kube-router's network policy controller run it
#   ipset: kube-router keeps the pods a policy selects in ip sets
#   iproute2 (ip netns exec): the components run inside the lab node's network namespace
# Installing them loads no rules: the packages ship no service that restores a rule set.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "lab net: run as root (iptables and ipset change a network namespace's packet filter)" >&2
  exit 1
fi

need=()
for spec in iptables:iptables iptables-save:iptables iptables-restore:iptables ipset:ipset ip:iproute2; do
  command -v "${spec%%:*}" > /dev/null || need+=("${spec#*:}")
done
if ((${#need[@]})); then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "lab net: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
