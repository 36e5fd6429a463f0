"""Fixtures shared by the real lab's tests: one real lab per test module.

``cp_info`` (the control plane), ``node_info`` (the node, pods as network namespaces), ``lab`` (kube-proxy,
CoreDNS and kube-router's NetworkPolicy enforcement inside the node's namespace) and ``real_lab`` (all
three, with what a playbook run needs). Each is module-scoped: a module starts one lab and stops it when
its last test is done; modules run one after the other (xdist group ``lab-control-plane``). Running
components can be reused instead: NETPOL_LAB_CONTROL_PLANE_INFO and NETPOL_LAB_NODE_INFO name their
info.json. Needs root.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes import config as kube_config

from tests.lab import lab_net


@pytest.fixture(scope="module")
def cp_info(tmp_path_factory):
    """The real control plane's info.json: a running one (NETPOL_LAB_CONTROL_PLANE_INFO) or one started here."""
    given = os.environ.get("NETPOL_LAB_CONTROL_PLANE_INFO")
    if given:
        yield json.loads(Path(given).read_text())
        return
    from tests.lab.control_plane import ControlPlane

    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    plane.start()
    try:
        yield plane.info
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def host_rules():
    """The host's own iptables rules and ip sets before the lab's network starts (it must add none)."""
    return lab_net.ruleset(None)


@pytest.fixture(scope="module")
def node_info(cp_info, host_rules, tmp_path_factory):
    """The lab node's info.json: a running one (NETPOL_LAB_NODE_INFO) or one started here."""
    if os.geteuid() != 0:
        pytest.fail("the lab's network needs root (network namespaces, iptables); run the lab tests as root")
    given = os.environ.get("NETPOL_LAB_NODE_INFO")
    if given:
        yield json.loads(Path(given).read_text())
        return
    from tests.lab.lab_node import LabNode

    node = LabNode(tmp_path_factory.mktemp("lab-node"), cp_info)
    node.start()
    try:
        yield node.info
    finally:
        node.stop()


@pytest.fixture(scope="module")
def lab(cp_info, node_info, tmp_path_factory):
    """Services, DNS and kube-router's enforcement (a test may stop it early: stop() is idempotent)."""
    net = lab_net.LabNet(tmp_path_factory.mktemp("lab-net"), cp_info, node_info)
    net.start()
    yield net
    net.stop()


@dataclass
class RealLab:
    """A running real lab: control plane, node and enforcing network."""

    cp: dict[str, Any]
    node: dict[str, Any]
    net: lab_net.LabNet

    @property
    def kubeconfig(self) -> str:
        return self.cp["kubeconfig"]

    @property
    def env(self) -> dict[str, str]:
        """The variables an ansible-playbook run needs to reach the lab's API server."""
        return dict(self.cp["env"])

    def api_client(self) -> client.ApiClient:
        return kube_config.new_client_from_config(config_file=self.kubeconfig)


@pytest.fixture(scope="module")
def real_lab(cp_info, node_info, lab):
    """The whole real lab (control plane + node + enforcement), one per test module."""
    return RealLab(cp_info, node_info, lab)
