#!/usr/bin/env bash
# `make demo`: start the local lab (simulated Azure + simulated Kubernetes), run every step of
# playbooks/demo.yml against it, stop the lab, and exit non-zero when a step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

echo "netpol.aks demo on the LOCAL LAB: Azure and the AKS cluster are SIMULATED by test doubles on 127.0.0.1."
echo "Nothing is created in Azure and nothing costs money. See README.md for AKS and kind."
"$BIN/python" -m tests.fakes.lab up
trap '"$BIN/python" -m tests.fakes.lab down' EXIT
# shellcheck disable=SC1091
source .lab/env
"$BIN/ansible-playbook" playbooks/demo.yml "$@"
