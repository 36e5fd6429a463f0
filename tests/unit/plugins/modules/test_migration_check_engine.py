# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""migration_check: bad cilium_version and from_engine=auto refused before the cluster is read; auto
finding the engine the cluster moves to (a fake client)."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.modules import migration_check as mod

PODS = [{"namespace": "default", "name": "api", "labels": {"app": "api"}, "ip": "10.244.0.11"}]


def params(**kwargs):
    result = ArgumentSpecValidator(mod.ARGUMENT_SPEC).validate(kwargs)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


class Unread:
    """A module whose cluster must not be read."""

    def __init__(self, **kwargs):
        self.params = params(**kwargs)

    def kube(self):
        raise AssertionError("the input is refused before the cluster is read")


class FakeKube:
    def __init__(self, daemonsets):
        self.daemonsets = daemonsets

    def read_daemonset(self, namespace, name):
        return self.daemonsets.get((namespace, name))

    def list(self, what, call, *args, **kwargs):
        raise AssertionError(f"the module went on to {what} after refusing the move")


class Live:
    def __init__(self, daemonsets, **kwargs):
        self.params = params(**kwargs)
        self.daemonsets = daemonsets

    def kube(self):
        return FakeKube(self.daemonsets)


@pytest.mark.parametrize("version", ["latest", "1", "1.x", "stable-1.17", "1.17.0.1"])
@pytest.mark.parametrize("offline", [True, False])
def test_a_cilium_version_that_is_not_a_version_names_the_option(version, offline):
    given = {"pods": PODS} if offline else {}
    with pytest.raises(_kube.KubeError, match=rf"^cilium_version: '{version}' is not a version; write major.minor"):
        mod.run(Unread(cilium_version=version, **given))


def test_a_cilium_version_for_another_engine_is_refused():
    with pytest.raises(
        _kube.KubeError, match=r"^cilium_version: '1.17' .* only with to_engine=cilium \(to_engine is calico\)"
    ):
        mod.run(Unread(cilium_version="1.17", to_engine="calico"))


@pytest.mark.parametrize("version", ["1.16", "v1.17", "1.17.3"])
def test_a_cilium_version_is_major_minor_with_an_optional_patch(version):
    result = mod.run(Unread(cilium_version=version, pods=PODS))
    assert result["safe"] is True


def test_from_engine_auto_offline_names_the_option():
    with pytest.raises(
        _kube.KubeError, match=r"^from_engine: auto reads the engine from the cluster, so it needs source=live"
    ):
        mod.run(Unread(from_engine="auto", pods=PODS))


def test_from_engine_auto_on_a_cluster_that_already_runs_cilium_is_refused_with_what_it_found():
    module = Live(
        {("kube-system", "cilium"): {"status": {"desiredNumberScheduled": 2, "numberReady": 2}}}, from_engine="auto"
    )
    with pytest.raises(
        _kube.KubeError, match=r"^from_engine: auto found DaemonSet kube-system/cilium: the cluster already runs cilium"
    ) as err:
        mod.run(module)
    assert err.value.result["engine_detected"]["source"] == "DaemonSet kube-system/cilium"


@pytest.mark.parametrize(
    ("port", "message"), [(0, r"^ports\[0\]\.port: 0 must be a port number"), ("a b", r"^ports\[0\]\.port")]
)
def test_a_bad_ports_item_is_the_modules_error_naming_the_item(port, message):
    with pytest.raises(_kube.KubeError, match=message):
        mod.run(Unread(pods=PODS, ports=[{"port": port}]))
