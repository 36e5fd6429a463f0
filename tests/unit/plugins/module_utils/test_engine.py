# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_engine: which NetworkPolicy engine a cluster runs, decided from its DaemonSets (a fake client)."""

from __future__ import annotations

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _engine
from ansible_collections.netpol.aks.plugins.module_utils import _kube


def daemonset(desired=3, ready=3):
    return {"kind": "DaemonSet", "status": {"desiredNumberScheduled": desired, "numberReady": ready}}


class FakeKube:
    """KubeClient's read_daemonset() over a dict of DaemonSets {(namespace, name): object}; 404 is None."""

    def __init__(self, objects=None, failure=None):
        self.objects = objects or {}
        self.failure = failure
        self.asked = []

    def read_daemonset(self, namespace, name):
        self.asked.append(f"{namespace}/{name}")
        if self.failure:
            raise _kube.KubeError(f"Failed to read DaemonSet {namespace}/{name}: {self.failure}")
        return self.objects.get((namespace, name))


def resolve(objects=None, engine=None, failure=None, kube=None):
    kube = kube or FakeKube(objects, failure)
    return _engine.resolve(engine, live=True, kube=lambda: kube)


@pytest.mark.parametrize(
    ("namespace", "name", "engine"),
    [
        ("kube-system", "azure-npm", "azure"),
        ("calico-system", "calico-node", "calico"),
        ("kube-system", "calico-node", "calico"),
        ("kube-system", "cilium", "cilium"),
    ],
)
def test_each_engine_is_read_from_its_daemonset(namespace, name, engine):
    kube = FakeKube({(namespace, name): daemonset()})
    chosen, detected, warnings = resolve(kube=kube)
    assert chosen == engine
    assert detected["name"] == engine
    assert detected["source"] == f"DaemonSet {namespace}/{name}"
    assert detected["found"] == [
        {"name": engine, "source": f"DaemonSet {namespace}/{name}", "pods_desired": 3, "pods_ready": 3, "counted": True}
    ]
    assert warnings == []
    assert kube.asked == [
        "kube-system/azure-npm",
        "calico-system/calico-node",
        "kube-system/calico-node",
        "kube-system/cilium",
    ]


def test_nothing_found_is_upstream_with_a_warning_naming_what_was_looked_for():
    chosen, detected, warnings = resolve({("kube-system", "kube-proxy"): daemonset()})
    assert chosen == "upstream"
    assert detected == {"name": "upstream", "source": None, "reason": "no NetworkPolicy engine found", "found": []}
    (warning,) = warnings
    for name in ("kube-system/azure-npm", "calico-system/calico-node", "kube-system/calico-node", "kube-system/cilium"):
        assert f"DaemonSet {name}" in warning
    assert "set engine" in warning


def test_a_daemonset_that_schedules_no_pods_does_not_count():
    chosen, detected, warnings = resolve({("kube-system", "azure-npm"): daemonset(desired=0, ready=0)})
    assert chosen == "upstream"
    assert detected["found"][0]["counted"] is False
    assert "kube-system/azure-npm: no pods scheduled" in warnings[0]


def test_one_running_engine_wins_over_an_idle_one():
    objects = {("kube-system", "azure-npm"): daemonset(0, 0), ("kube-system", "cilium"): daemonset(2, 2)}
    chosen, detected, warnings = resolve(objects)
    assert (chosen, detected["source"], warnings) == ("cilium", "DaemonSet kube-system/cilium", [])


@pytest.mark.parametrize(
    ("old", "key"), [("azure", ("kube-system", "azure-npm")), ("calico", ("calico-system", "calico-node"))]
)
def test_mid_migration_to_cilium_predicts_with_the_old_engine_and_says_so(old, key):
    objects = {key: daemonset(3, 3), ("kube-system", "cilium"): daemonset(3, 1)}
    chosen, detected, warnings = resolve(objects)
    assert chosen == old
    assert detected["source"] == f"DaemonSet {key[0]}/{key[1]}"
    assert "moving to Cilium" in detected["reason"]
    assert [f["name"] for f in detected["found"]] == [old, "cilium"]
    (warning,) = warnings
    assert "1/3 pods ready" in warning
    assert "engine=cilium" in warning


def test_two_engines_no_move_explains_is_an_error():
    objects = {("kube-system", "azure-npm"): daemonset(), ("calico-system", "calico-node"): daemonset()}
    with pytest.raises(_kube.KubeError, match=r"several NetworkPolicy engines \(Azure NPM .*Calico .*Set engine"):
        resolve(objects)


def test_calico_in_both_namespaces_is_one_engine():
    objects = {("calico-system", "calico-node"): daemonset(), ("kube-system", "calico-node"): daemonset()}
    chosen, detected, warnings = resolve(objects)
    assert (chosen, detected["source"], warnings) == ("calico", "DaemonSet calico-system/calico-node", [])


def test_unreadable_daemonsets_warn_when_defaulted_and_fail_when_asked_for():
    chosen, detected, warnings = resolve(failure="HTTP 403 Forbidden")
    assert chosen == "upstream"
    assert detected["source"] is None
    assert "HTTP 403 Forbidden" in warnings[0]
    assert "get on daemonsets in kube-system and calico-system" in warnings[0]
    with pytest.raises(_kube.KubeError, match=r"engine: could not read .*HTTP 403 Forbidden.*set engine"):
        resolve(engine="auto", failure="HTTP 403 Forbidden")


def test_a_given_engine_reads_nothing():
    kube = FakeKube({("kube-system", "cilium"): daemonset()})
    chosen, detected, warnings = resolve(engine="azure", kube=kube)
    assert (chosen, detected, warnings, kube.asked) == ("azure", None, [], [])


def test_offline_auto_is_an_error_naming_the_option_and_offline_default_is_upstream():
    with pytest.raises(
        _kube.KubeError, match=r"^from_engine: auto reads the engine from the cluster, so it needs source=live"
    ):
        _engine.resolve("auto", live=False, kube=lambda: pytest.fail("offline reads no cluster"), option="from_engine")
    assert _engine.resolve(None, live=False, kube=lambda: pytest.fail("offline reads no cluster")) == (
        "upstream",
        None,
        [],
    )


def test_the_option_name_is_in_every_message():
    warnings = resolve()[2]
    assert warnings[0].startswith("engine: ")
    found = _engine.detect(lambda namespace, name: None, required=True, option="from_engine")
    assert found.warning.startswith("from_engine: ")
