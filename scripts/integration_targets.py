"""Run `ansible-test integration` (tests/integration/targets/) against the local lab.

Usage: scripts/integration_targets.py [TARGET ...]     (default: every target)

The targets call the modules as a playbook does, against the lab's simulated Azure and real Kubernetes
(`make lab-up`); the lab is started here when it is not up, and then stopped again. ansible-test runs a
copy of the collection under .../ansible_collections/netpol/aks (as scripts/sanity.py does) and passes
the credentials through its Azure cloud configuration, tests/integration/cloud-config-azure.ini, the
way azure.azcollection's targets get theirs: every key becomes an environment variable of the run.
That file is written into the copy from the lab's .lab/env.json, so no credential is kept in the tree.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sanity import BIN
from sanity import ROOT
from sanity import copy_tree

LAB_ENV = Path(os.environ.get("NETPOL_LAB_STATE_DIR") or ROOT / ".lab") / "env.json"  # as tests/lab/local_lab.py


def lab(command: str) -> None:
    subprocess.run([sys.executable, "-m", "tests.lab", command], cwd=ROOT, check=True)


def write_cloud_config(path: Path, lab_env: dict[str, str]) -> None:
    """ansible-test's Azure cloud configuration: its required keys, then everything the lab publishes."""
    config = configparser.ConfigParser(interpolation=None)
    config.optionxform = str  # keep the variables' case
    values = {
        # the names ansible-test requires (azure.azcollection's)
        "AZURE_CLIENT_ID": lab_env["AZURE_CLIENT_ID"],
        "AZURE_SECRET": lab_env["AZURE_CLIENT_SECRET"],
        "AZURE_SUBSCRIPTION_ID": lab_env["AZURE_SUBSCRIPTION_ID"],
        "AZURE_TENANT": lab_env["AZURE_TENANT_ID"],
        "RESOURCE_GROUP": "netpol-aks-it",
        "RESOURCE_GROUP_SECONDARY": "netpol-aks-it-2",
        # what the modules read: the lab's endpoints, CA bundle and kubeconfig
        **lab_env,
    }
    # ansible-test reads the file with configparser's interpolation: a literal % is written %%.
    config["default"] = {name: value.replace("%", "%%") for name, value in values.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        config.write(handle)


def main(argv: list[str]) -> int:
    started = not LAB_ENV.is_file()  # a lab someone started is left running
    lab("up")  # a no-op when it is up
    try:
        lab_env = json.loads(LAB_ENV.read_text())
        with tempfile.TemporaryDirectory(prefix="netpol-aks-integration-") as scratch:
            tree = Path(scratch) / "ansible_collections" / "netpol" / "aks"
            copy_tree(tree)
            write_cloud_config(tree / "tests" / "integration" / "cloud-config-azure.ini", lab_env)
            python = f"{sys.version_info.major}.{sys.version_info.minor}"
            command = [str(BIN / "ansible-test"), "integration", "--python", python, "--color", "no", *argv]
            env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
            return subprocess.run(command, cwd=tree, env=env, check=False).returncode
    finally:
        if started:
            lab("down")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
