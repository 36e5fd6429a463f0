#!/usr/bin/env bash
# `make demo`: run every step of playbooks/demo.yml on the local lab (simulated Azure + simulated
# Kubernetes) and exit non-zero when a step failed. A lab that is already up (`make lab-up`) is used
# and left running; otherwise the lab is started for the run and stopped afterwards.
# Arguments go to ansible-playbook, e.g. `scripts/demo.sh --tags deny`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
LAB_DIR=${NETPOL_LAB_STATE_DIR:-.lab}

echo "netpol.aks demo on the LOCAL LAB: Azure and the AKS cluster are SIMULATED by test doubles on 127.0.0.1."
echo "Nothing is created in Azure and nothing costs money. See README.md for AKS and kind."
if "$BIN/python" -m tests.fakes.lab status >/dev/null; then
  echo "Using the lab that is already up (make lab-up); it stays up afterwards (make lab-down stops it)."
else
  "$BIN/python" -m tests.fakes.lab up
  trap '"$BIN/python" -m tests.fakes.lab down >/dev/null' EXIT
fi
# shellcheck disable=SC1091
source "$LAB_DIR/env"
"$BIN/ansible-playbook" playbooks/demo.yml "$@"
