#!/usr/bin/env bash
# `make demo`: run every step of playbooks/demo.yml on the local lab (simulated Azure + simulated
# Kubernetes; NETPOL_LAB_KUBE=real: a real Kubernetes) and exit non-zero when a step failed. A lab that is already up (`make lab-up`) is used
# and left running; otherwise the lab is started for the run and stopped afterwards.
# Arguments go to ansible-playbook, e.g. `scripts/demo.sh --tags deny`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
LAB_DIR=${NETPOL_LAB_STATE_DIR:-.lab}

if "$BIN/python" -m tests.fakes.lab status >/dev/null; then
  running=$(cat "$LAB_DIR/kube-mode" 2>/dev/null || echo double)
  if [[ -n ${NETPOL_LAB_KUBE:-} && $NETPOL_LAB_KUBE != "$running" ]]; then
    echo "A lab with NETPOL_LAB_KUBE=$running is up, and NETPOL_LAB_KUBE=$NETPOL_LAB_KUBE was asked for: run make lab-down first." >&2
    exit 1
  fi
  echo "Using the lab that is already up (make lab-up); it stays up afterwards (make lab-down stops it)."
else
  "$BIN/python" -m tests.fakes.lab up
  trap '"$BIN/python" -m tests.fakes.lab down >/dev/null' EXIT
fi
if [[ $(cat "$LAB_DIR/kube-mode" 2>/dev/null) == real ]]; then
  echo "netpol.aks demo on the LOCAL LAB: Azure is SIMULATED by a test double on 127.0.0.1; the cluster is a REAL"
  echo "Kubernetes built from source, running inside this machine's network namespaces."
else
  echo "netpol.aks demo on the LOCAL LAB: Azure and the AKS cluster are SIMULATED by test doubles on 127.0.0.1."
fi
echo "Nothing is created in Azure and nothing costs money. See README.md for AKS and kind."
# shellcheck disable=SC1091
source "$LAB_DIR/env"
"$BIN/ansible-playbook" playbooks/demo.yml "$@"
