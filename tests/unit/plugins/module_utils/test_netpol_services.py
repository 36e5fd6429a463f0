# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""netpol's Services (the port a client uses, the backend port it leads to, the backends' decisions) and
the ports asked for (checked, and grouped by the number each target resolves them to)."""

from __future__ import annotations

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import netpol


def service(ports=None, selector=None, **spec):
    body = {"selector": {"app": "api"} if selector is None else selector, **spec}
    if ports is not None:
        body["ports"] = ports
    return {"metadata": {"namespace": "demo", "name": "api"}, "spec": body}


API = service([{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])


def test_the_port_a_client_uses():
    assert netpol.service_port(API, 80)["name"] == "http"
    assert netpol.service_target_port(API, 80) == 8080
    assert netpol.service_target_port(API, 53, "udp") == 53  # targetPort defaults to the port


@pytest.mark.parametrize(("port", "protocol"), [(8081, "TCP"), (53, "TCP"), (80, "UDP")])
def test_a_port_the_service_does_not_expose_names_its_ports(port, protocol):
    with pytest.raises(netpol.InputError) as err:
        netpol.service_port(API, port, protocol)
    assert str(err.value) == (
        f"port: Service demo/api does not expose {port}/{protocol} (its ports: 80/TCP (http), 53/UDP)"
    )


def test_services_that_forward_any_port():
    external = service(type="ExternalName", externalName="example.org", selector={})
    assert netpol.service_port(external, 8081) is None
    headless = service(clusterIP="None")
    assert netpol.service_target_port(headless, 8081) == 8081
    # A headless Service's clients connect to the pod's own port, whatever targetPort says.
    headless_ports = service([{"port": 80, "targetPort": 8080}], clusterIP="None")
    assert netpol.service_target_port(headless_ports, 80) == 80
    with pytest.raises(netpol.InputError):
        netpol.service_port(headless_ports, 81)


def test_decisions_for_every_backend_with_the_named_target_port():
    cluster = netpol.Cluster(
        pods=[
            {"namespace": "demo", "name": "client", "labels": {"run": "client"}, "ip": "10.0.0.1"},
            {
                "namespace": "demo",
                "name": "api-1",
                "labels": {"app": "api"},
                "ip": "10.0.0.2",
                "ports": [{"name": "web", "port": 8080}],
            },
            {
                "namespace": "demo",
                "name": "api-2",
                "labels": {"app": "api"},
                "ip": "10.0.0.3",
                "ports": [{"name": "web", "port": 9090}],
            },
            # Not a backend: no port named web (the endpoints controller leaves it out).
            {"namespace": "demo", "name": "api-3", "labels": {"app": "api"}, "ip": "10.0.0.4"},
            # Not a backend: another namespace.
            {"namespace": "other", "name": "api", "labels": {"app": "api"}, "ip": "10.0.0.5"},
        ],
        policies=[
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "only-9090", "namespace": "demo"},
                "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": [{"ports": [{"port": 9090}]}]},
            }
        ],
    )
    named = service([{"port": 80, "targetPort": "web"}])
    assert [p.ident for p in cluster.service_backends(named)] == ["demo/api-1", "demo/api-2", "demo/api-3"]
    decisions, why = cluster.service_decisions("demo/client", named, 80)
    assert why == ""
    assert [(d.target, d.port, d.allowed) for d in decisions] == [
        ("demo/api-1", 8080, False),
        ("demo/api-2", 9090, True),
    ]
    with pytest.raises(netpol.InputError, match="does not expose 81/TCP"):
        cluster.service_decisions("demo/client", named, 81)
    assert cluster.service_decisions("demo/client", service([{"port": 80}], selector={}), 80) == (
        [],
        "Service demo/api has no selector: its endpoints are not predicted",
    )
    nobody = service([{"port": 80}], selector={"app": "none"})
    assert cluster.service_decisions("demo/client", nobody, 80)[1] == (
        "Service demo/api has no backend pods (for target port 80)"
    )
    # From a backend to its own Service: self traffic is left out of the prediction.
    lone = service([{"port": 80, "targetPort": 8080}], selector={"run": "client"})
    assert cluster.service_decisions("demo/client", lone, 80) == ([], "self traffic is not predicted")


PORTS = {"a": (("http", 80, "TCP"),), "b": (("http", 8080, "TCP"), ("dns", 53, "UDP")), "ip": None}


def test_port_groups_resolve_names_per_target():
    groups = netpol.port_groups(["a", "b", "ip"], [("http", "TCP"), (443, "TCP")], PORTS.get)
    assert groups == {
        "http/TCP": ("http", "TCP", {80: ["a"], 8080: ["b"]}),
        "443/TCP": (443, "TCP", {443: ["a", "b", "ip"]}),
    }


def test_port_groups_default_to_every_declared_port():
    groups = netpol.port_groups(["a", "b"], None, PORTS.get)
    assert list(groups) == ["53/UDP", "80/TCP", "8080/TCP"]
    with pytest.raises(netpol.InputError, match="targets: ip is not a pod and declares no ports"):
        netpol.port_groups(["a", "ip"], None, PORTS.get)


def test_a_port_name_no_target_declares_is_an_error():
    with pytest.raises(
        netpol.InputError, match=r"ports\[1\].port: no target declares a TCP container port named 'dns'"
    ):
        netpol.port_groups(["a", "b"], [(80, "TCP"), ("dns", "TCP")], PORTS.get)


@pytest.mark.parametrize(
    ("port", "protocol", "expected"),
    [(80, None, (80, "TCP")), ("8080", "udp", (8080, "UDP")), ("http-alt", "TCP", ("http-alt", "TCP"))],
)
def test_check_port_spec_accepts(port, protocol, expected):
    assert netpol.check_port_spec(port, protocol, "ports[0]") == expected


@pytest.mark.parametrize(
    ("port", "protocol", "message"),
    [
        (0, "TCP", "ports[0].port: 0 must be a port number"),
        (True, "TCP", "ports[0].port: True must be a port number"),
        ("a--b", "TCP", "ports[0].port: named port 'a--b' is not a valid IANA service name"),
        ("123456789abcdefg", "TCP", "is not a valid IANA service name"),
        (80, "ICMP", "ports[0].protocol: 'ICMP' is not supported"),
    ],
)
def test_check_port_spec_rejects(port, protocol, message):
    with pytest.raises(netpol.InputError) as err:
        netpol.check_port_spec(port, protocol, "ports[0]")
    assert message in str(err.value)
