# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe model: the script's wire contract, classification, parsing, the probe pod, input
normalisation, cells, tables and verdicts. Pure: no Kubernetes client."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _probe
from ansible_collections.netpol.aks.plugins.module_utils._probe import Cell
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeInputError
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeOutcome
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbePod
from ansible_collections.netpol.aks.plugins.module_utils._probe import Source
from ansible_collections.netpol.aks.plugins.module_utils._probe import Target
from ansible_collections.netpol.aks.plugins.module_utils._probe import TargetSpec


def test_the_model_imports_no_kubernetes_client():
    """The model is pure: importing it loads neither the kubernetes library nor the collection's Kubernetes layer."""
    code = (
        "import sys\n"
        "import ansible_collections.netpol.aks.plugins.module_utils._probe\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes' or m.endswith('._kube'))\n"
        "print(loaded)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.strip() == "[]"


def test_bad_input_is_a_value_error_that_says_nothing_was_created():
    error = ProbeInputError("port must be between 1 and 65535, got 0")
    assert isinstance(error, ValueError)
    assert error.message == "Invalid input, nothing was created: port must be between 1 and 65535, got 0"


# ---------------------------------------------------------------------------------------------
# classification: every busybox failure mode stays apart; nothing unknown becomes "blocked"
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rc", "output", "expected"),
    [
        (0, "<html>Welcome to nginx!</html>", "allowed"),
        (0, "", "allowed"),
        (1, "wget: download timed out", "blocked"),
        (1, "nc: timeout", "blocked"),
        (1, "wget: can't connect to remote host (10.0.0.12): Connection timed out", "blocked"),
        (1, "wget: can't connect to remote host (10.0.0.12): Connection refused", "refused"),
        (1, "wget: bad address 'nope'", "dns_error"),
        (1, "nc: bad address 'nope'", "dns_error"),
        (1, "wget: bad address 'nope.netpol-demo.svc'", "dns_error"),
        (1, "wget: server returned error: HTTP/1.1 404 Not Found", "allowed"),
        (127, "sh: wget: not found", "probe_error"),
        (1, "sh: wget: not found", "probe_error"),
        (2, "netpol-probe: unknown probe kind 'udp'", "probe_error"),
        (1, "", "probe_error"),
        (1, "something nobody has seen before", "probe_error"),
        (None, "", "probe_error"),
        (None, "wget: download timed out", "probe_error"),
    ],
)
def test_classify(rc, output, expected):
    assert _probe.classify(rc, output) == expected


def test_classify_never_reports_a_failure_as_blocked():
    for rc, output in [
        (None, ""),
        (1, ""),
        (126, "sh: permission denied"),
        (137, "Killed"),
        (127, "sh: nc: not found"),
    ]:
        assert _probe.classify(rc, output) != "blocked"


# ---------------------------------------------------------------------------------------------
# wire contract and parsing
# ---------------------------------------------------------------------------------------------


def test_build_command_is_the_wire_contract():
    specs = [TargetSpec(0, "http", "api.netpol-demo.svc", 80, 2), TargetSpec(1, "tcp", "10.0.0.5", 8080, 3)]
    command = _probe.build_command(specs)
    assert command[:2] == ["sh", "-c"]
    assert command[2] == _probe.PROBE_SCRIPT
    assert command[3] == "netpol-probe"
    assert command[4:] == ["0|http|api.netpol-demo.svc|80|2", "1|tcp|10.0.0.5|8080|3"]


@pytest.mark.parametrize(
    ("target", "protocol", "wire"),
    [
        (Target("ip", "fd00::1", "ns"), "http", "0|http|[fd00::1]|80|2"),
        (Target("ip", "fd00::1", "ns"), "tcp", "0|tcp|fd00::1|80|2"),
        (Target("url", "http://[fd00::1]:80/", "ns", url_port=80), "http", "0|http|[fd00::1]|80|2"),
        (Target("ip", "10.0.0.5", "ns"), "http", "0|http|10.0.0.5|80|2"),
        (Target("service", "api", "ns"), "http", "0|http|api.ns.svc|80|2"),
    ],
)
def test_an_ipv6_host_is_bracketed_in_the_url_and_bare_for_nc(target, protocol, wire):
    cell = Cell(Source("ns", pod="c"), target, 80, protocol)
    cell.host = _probe.resolve_host(target, {})
    assert cell.spec(0, 2).render() == wire


def test_an_ipv6_target_is_named_with_brackets_before_its_port():
    cell = Cell(Source("ns", pod="c"), Target("ip", "fd00::1", "ns"), 80, "http")
    assert cell.key == "[fd00::1]:80"
    assert cell.label == "ns/c -> ip [fd00::1]:80"
    assert Cell(Source("ns", pod="c"), Target("ip", "10.0.0.1", "ns"), 80, "http").key == "10.0.0.1:80"


def test_parse_output_splits_per_target_in_any_order():
    stdout = "\n".join(
        [
            "@1 wget: download timed out",
            "@0 <html>",
            "@0 Welcome to nginx!",
            "@0 rc=0",
            "@2 wget: bad address 'nope'",
            "@1 rc=1",
            "@2 rc=1",
            "garbage the shell printed",
            "@9 rc=0",
        ]
    )
    outcomes = _probe.parse_output(stdout, 3)
    assert outcomes[0] == ProbeOutcome("allowed", 0, "<html>\nWelcome to nginx!")
    assert outcomes[1] == ProbeOutcome("blocked", 1, "wget: download timed out")
    assert outcomes[2] == ProbeOutcome("dns_error", 1, "wget: bad address 'nope'")


def test_parse_output_target_without_rc_is_a_probe_error():
    outcomes = _probe.parse_output("@0 wget: download timed out\n", 2)
    assert outcomes[0].result == "probe_error"
    assert outcomes[0].rc is None
    assert outcomes[1].result == "probe_error"
    assert "no result" in outcomes[1].output


@pytest.mark.skipif(shutil.which("sh") is None or shutil.which("sed") is None, reason="needs sh and sed")
def test_probe_script_runs_in_a_real_shell(tmp_path):
    """The script itself, with fake wget/nc on PATH: one line per output line plus an rc line per target."""
    (tmp_path / "wget").write_text(
        '#!/bin/sh\ncase "$6" in *blocked*) echo "wget: download timed out" >&2; exit 1;; esac\necho hello\n'
    )
    (tmp_path / "nc").write_text("#!/bin/sh\necho \"nc: bad address '$5'\" >&2\nexit 1\n")
    for tool in ("wget", "nc"):
        (tmp_path / tool).chmod(0o755)
    specs = [
        TargetSpec(0, "http", "ok", 80, 2),
        TargetSpec(1, "http", "blocked", 80, 2),
        TargetSpec(2, "tcp", "x", 1, 2),
    ]
    specs.append(TargetSpec(3, "udp", "x", 1, 2))
    proc = subprocess.run(
        _probe.build_command(specs),
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        check=True,
        timeout=30,
    )
    outcomes = _probe.parse_output(proc.stdout, 4)
    assert [outcomes[i].result for i in range(4)] == ["allowed", "blocked", "dns_error", "probe_error"]
    assert outcomes[0].output == "hello"


@pytest.mark.skipif(shutil.which("sh") is None or shutil.which("sed") is None, reason="needs sh and sed")
def test_probe_script_gives_wget_an_ipv6_url_in_brackets(tmp_path):
    """The URL wget gets for an IPv6 target, through the real script: http://[fd00::1]:80/."""
    (tmp_path / "wget").write_text('#!/bin/sh\necho "url=$6"\n')
    (tmp_path / "wget").chmod(0o755)
    cell = Cell(Source("ns", pod="c"), Target("ip", "fd00::1", "ns"), 80, "http", host="fd00::1")
    proc = subprocess.run(
        _probe.build_command([cell.spec(0, 2)]),
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        check=True,
        timeout=30,
    )
    assert _probe.parse_output(proc.stdout, 1)[0].output == "url=http://[fd00::1]:80/"


# ---------------------------------------------------------------------------------------------
# the probe pod
# ---------------------------------------------------------------------------------------------


def test_probe_pod_is_restricted_and_findable():
    pod = _probe.build_probe_pod("netpol-probe-abc-0", "ns1", {"app": "api"}, "busybox:1.36", "abc")
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"]["app"] == "api"
    assert meta["labels"][_probe.PROBE_LABEL] == "true"
    assert meta["labels"][_probe.PROBE_RUN_LABEL] == "abc"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "netpol.aks"
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["activeDeadlineSeconds"] > 0
    (container,) = spec["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["limits"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    assert container["command"][0] == "sleep"
    assert container["image"] == "busybox:1.36"


def test_probe_pod_labels_cannot_override_the_probe_labels():
    pod = _probe.build_probe_pod("p", "ns", {_probe.PROBE_LABEL: "false"}, "busybox", "r")
    assert pod["metadata"]["labels"][_probe.PROBE_LABEL] == "true"


@pytest.mark.parametrize(
    ("status", "ready", "fatal"),
    [
        (
            {"phase": "Running", "containerStatuses": [{"name": "p", "ready": True, "state": {"running": {}}}]},
            True,
            False,
        ),
        ({"phase": "Pending"}, False, False),
        (
            {"phase": "Running", "containerStatuses": [{"name": "p", "ready": False, "state": {"running": {}}}]},
            False,
            False,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {"name": "p", "image": "nope", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                ],
            },
            False,
            True,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [{"name": "p", "state": {"waiting": {"reason": "ErrImagePull"}}}],
            },
            False,
            True,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [{"name": "p", "state": {"waiting": {"reason": "ContainerCreating"}}}],
            },
            False,
            False,
        ),
        ({"phase": "Failed", "reason": "DeadlineExceeded"}, False, True),
    ],
)
def test_pod_readiness(status, ready, fatal):
    got_ready, why, got_fatal = _probe.pod_readiness({"status": status})
    assert (got_ready, got_fatal) == (ready, fatal)
    if not ready:
        assert why


# ---------------------------------------------------------------------------------------------
# sources and targets
# ---------------------------------------------------------------------------------------------


def test_an_existing_source_pod_runs_its_probes_once_ready():
    source = Source("ns", pod="test-np")
    running = {"phase": "Running", "containerStatuses": [{"name": "client", "ready": True, "state": {"running": {}}}]}
    pod = {"spec": {"containers": [{"name": "client"}, {"name": "sidecar"}]}, "status": running}
    assert _probe.source_runner(source, pod) == ProbePod("ns", "test-np", "client")
    assert _probe.source_runner(Source("ns", pod="test-np", container="sidecar"), pod).container == "sidecar"
    pending = {"spec": pod["spec"], "status": {"phase": "Pending"}}
    assert _probe.source_runner(source, pending) == "source pod ns/test-np is not ready: phase Pending"


def test_resolve_host():
    pods = {("ns", "web"): {"status": {"podIP": "10.244.0.7"}}, ("ns", "new"): {"status": {}}}
    assert _probe.resolve_host(Target("service", "api", "other"), pods) == "api.other.svc"
    assert _probe.resolve_host(Target("pod", "web", "ns"), pods) == "10.244.0.7"
    assert _probe.resolve_host(Target("url", "http://web.other.svc:8080/", "ns", 8080), pods) == "web.other.svc"
    with pytest.raises(ProbeInputError, match="target pod ns/new has no IP yet"):
        _probe.resolve_host(Target("pod", "new", "ns"), pods)


def test_normalise_source():
    assert _probe.normalise_source({"pod": "test-np"}, "ns") == Source("ns", pod="test-np")
    assert _probe.normalise_source("test-np", "ns") == Source("ns", pod="test-np")
    src = _probe.normalise_source({"labels": {"app": "api"}, "namespace": "other"}, "ns")
    assert src.ephemeral
    assert src.namespace == "other"
    assert src.name == "other/[app=api]"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "exactly one of pod"),
        ({"pod": "a", "labels": {"x": "y"}}, "exactly one of pod"),
        ({"pods": "a"}, "unknown keys"),
        ({"labels": {}}, "non-empty mapping"),
        ({"labels": {"app": True}}, "must be a string"),
        ({"pod": "Bad_Name!"}, "Kubernetes object name"),
        ({"pod": "a", "namespace": "UPPER_"}, "from.namespace"),
        (42, "must be a mapping"),
    ],
)
def test_normalise_source_rejects(raw, message):
    with pytest.raises(ProbeInputError, match=message):
        _probe.normalise_source(raw, "ns")


def test_normalise_target():
    assert _probe.normalise_target("api", "ns") == Target("service", "api", "ns")
    assert _probe.normalise_target({"pod": "x", "namespace": "o"}, "ns") == Target("pod", "x", "o")
    assert _probe.normalise_target({"ip": "10.0.0.1"}, "ns").value == "10.0.0.1"
    url = _probe.normalise_target({"url": "http://api.other.svc:8080/"}, "ns")
    assert (url.kind, url.url_port) == ("url", 8080)
    assert _probe.normalise_target({"url": "http://api"}, "ns").url_port == 80
    for url in ("http://10.0.0.1:8080/", "http://API.Example.com./", "http://a-1.b-2.svc.cluster.local"):
        assert _probe.normalise_target({"url": url}, "ns").value == url
    assert _probe.service_host(Target("service", "api", "ns")) == "api.ns.svc"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"service": "api", "pod": "x"}, "exactly one of"),
        ({"ip": "10.0.0.300"}, "IP address"),
        ({"url": "https://api"}, "http://"),
        ({"url": "http://api/index.html"}, "root path"),
        ({"url": "http://api:70000/"}, "port"),
        ({"service": "Api_1"}, "to.service"),
        # URL hosts that are neither a host name nor an address are refused up front
        ({"url": "http://a_b/"}, r"to.url host 'a_b' is neither a host name"),
        ({"url": "http://api|80|1/"}, "neither a host name"),
        ({"url": "http://a..b/"}, "neither a host name"),
        ({"url": "http://-api/"}, "neither a host name"),
        ({"url": "http://x$(id)/"}, "neither a host name"),
        ({"url": "http://" + "a" * 64 + ".svc/"}, "neither a host name"),
        ({"url": "http://999.1.1.1/"}, "neither a host name"),
        ({"host": "api"}, "unknown keys"),
        ([], "service name or a mapping"),
    ],
)
def test_normalise_target_rejects(raw, message):
    with pytest.raises(ProbeInputError, match=message):
        _probe.normalise_target(raw, "ns")


@pytest.mark.parametrize("port", [0, 70000, -1, True, "80"])
def test_check_port_rejects(port):
    with pytest.raises(ProbeInputError, match="between 1 and 65535"):
        _probe.check_port(port)


def test_check_protocol_rejects():
    with pytest.raises(ProbeInputError, match="protocol must be one of http, tcp"):
        _probe.check_protocol("udp")


# ---------------------------------------------------------------------------------------------
# stability and verdicts
# ---------------------------------------------------------------------------------------------


def _cell(expected=None, source="s"):
    return Cell(Source("ns", pod=source), Target("service", "api", "ns"), 80, "http", expected=expected)


def _outcome(result):
    return ProbeOutcome(result, 0 if result == "allowed" else 1, "")


def test_cell_settles_after_stable_for_equal_results():
    cell = _cell()
    cell.record(0.0, _outcome("allowed"), 0.1)
    assert not cell.settled(2)
    cell.record(1.0, _outcome("blocked"), 2.0)
    assert not cell.settled(2)
    cell.record(3.0, _outcome("blocked"), 2.0)
    assert cell.settled(2)
    assert cell.stable_since() == 1.0
    assert cell.as_result()["history"] == ["allowed", "blocked", "blocked"]
    assert cell.as_result()["stable_after"] == 1.0


def test_cell_with_expectation_settles_only_on_match():
    cell = _cell("blocked")
    cell.record(0.0, _outcome("allowed"), 0.1)
    cell.record(1.0, _outcome("allowed"), 0.1)
    assert not cell.settled(1)
    cell.record(2.0, _outcome("blocked"), 2.0)
    assert cell.settled(1)


def test_probe_error_never_settles_unless_final():
    cell = _cell()
    cell.record(0.0, ProbeOutcome("probe_error", None, "exec failed"), 0.1)
    cell.record(1.0, ProbeOutcome("probe_error", None, "exec failed"), 0.1)
    assert not cell.settled(1)
    cell.final = True
    assert cell.settled(1)


def _done(expected, result, source="s"):
    cell = _cell(expected, source)
    cell.record(0.0, _outcome(result), 0.1)
    return cell


def test_verdicts():
    assert _probe.verdict([_done("blocked", "blocked"), _done("allowed", "allowed", "t")])[0] == "match"
    assert _probe.verdict([_done("blocked", "allowed"), _done("allowed", "allowed", "t")])[0] == "not_enforcing"
    assert _probe.verdict([_done("blocked", "allowed"), _done("blocked", "blocked", "t")])[0] == "differences"
    assert _probe.verdict([_done("allowed", "blocked")])[0] == "differences"
    assert _probe.verdict([_done(None, "blocked")])[0] == "observed"
    error = _cell("blocked")
    error.record(0.0, ProbeOutcome("probe_error", None, "boom"), 0.1)
    kind, message = _probe.verdict([error, _done("blocked", "blocked", "t")])
    assert kind == "probe_error"
    assert "never counted as blocked" in message
    assert "NetworkPolicy" in _probe.verdict([_done("blocked", "allowed")])[1]


def test_render_table():
    cells = [_done(None, "allowed"), _done(None, "blocked", "t")]
    lines = _probe.render_table(_probe.truth_table(cells))
    assert lines[0].split() == ["-", "ns/api:80"]
    assert lines[1].split() == ["ns/s", "."]
    assert lines[2].split() == ["ns/t", "X"]


@pytest.mark.parametrize(
    ("url", "port", "shown"),
    [("http://api.other.svc:8080/", 8080, "api.other.svc:8080/"), ("http://api", 80, "api:80")],
)
def test_a_url_target_shows_its_port_once(url, port, shown):
    target = _probe.normalise_target({"url": url}, "ns")
    assert target.url_port == port
    assert target.with_port(port) == f"url http://{shown}"
    assert target.with_port(port, short=True) == f"http://{shown}"
    cell = Cell(Source("ns", pod="client"), target, port, "http")
    assert cell.label == f"ns/client -> url http://{shown}"


def test_the_waiting_reasons_that_never_end_are_public_and_fatal():
    assert {"ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff"} <= _probe.FATAL_WAITING_REASONS
    for reason in sorted(_probe.FATAL_WAITING_REASONS):
        status = {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": reason}}}]}
        assert _probe.pod_readiness({"status": status})[2] is True, reason
    waiting = {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}
    assert _probe.pod_readiness({"status": waiting})[2] is False


def _service(selector: dict[str, str]) -> dict:
    return {"metadata": {"name": "api"}, "spec": {"selector": selector}}


def test_probe_pods_whose_labels_hold_a_target_services_selector_are_named():
    """Probe pods carrying app=api in netpol-demo would be endpoints of Service api (selector app=api)."""
    services = {("netpol-demo", "api"): _service({"app": "api"})}
    backends = Source("netpol-demo", labels=(("app", "api"), ("tier", "web")))
    warnings = _probe.probe_pods_as_backends([backends], services)
    assert len(warnings) == 1
    assert "target Service netpol-demo/api" in warnings[0]
    assert "{'app': 'api'}" in warnings[0]


@pytest.mark.parametrize(
    "source",
    [
        Source("netpol-demo", pod="test-np"),  # an existing pod: the module makes nothing
        Source("default", labels=(("app", "api"),)),  # another namespace: the Service does not select it
        Source("netpol-demo", labels=(("app", "web"),)),  # the selector's value differs
    ],
)
def test_probe_pods_that_cannot_be_endpoints_are_not_named(source):
    services = {
        ("netpol-demo", "api"): _service({"app": "api", "app.kubernetes.io/component": "server"}),
        ("netpol-demo", "headless"): {"spec": {}},  # no selector: no endpoints made from labels
    }
    assert _probe.probe_pods_as_backends([source], services) == []
    # The workload role's Service selects a second label the probe labels lack: no warning either.
    assert _probe.probe_pods_as_backends([Source("netpol-demo", labels=(("app", "api"),))], services) == []
