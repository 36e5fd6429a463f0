#!/usr/bin/env bash
# `make demo`: run every step of playbooks/demo.yml on the local lab (simulated Azure, a real Kubernetes
# in this machine's network namespaces; needs root) and exit non-zero when a step failed. A lab that is
# already up (`make lab-up`) is used and left running; otherwise the lab is started for the run and
# stopped afterwards. Arguments go to ansible-playbook, e.g. `scripts/demo.sh --tags deny`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
LAB_DIR=${NETPOL_LAB_STATE_DIR:-.lab}

if "$BIN/python" -m tests.lab status >/dev/null; then
  echo "Using the lab that is already up (make lab-up); it stays up afterwards (make lab-down stops it)."
else
  "$BIN/python" -m tests.lab up
  trap '"$BIN/python" -m tests.lab down >/dev/null' EXIT
fi
echo "netpol.aks demo on the LOCAL LAB: Azure is SIMULATED by a test double on 127.0.0.1; the cluster is a REAL"
echo "Kubernetes built from source, running inside this machine's network namespaces."
echo "Nothing is created in Azure and nothing costs money. See README.md for AKS and kind."
# shellcheck disable=SC1091
source "$LAB_DIR/env"
"$BIN/ansible-playbook" playbooks/demo.yml "$@"
