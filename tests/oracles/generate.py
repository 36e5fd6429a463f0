"""Random clusters for the differential tests: namespaces, pods, NetworkPolicies and non-pod addresses.

A cluster is a plain dict, the shape ``reachability_info`` takes offline, plus ``externals``::

    {"namespaces": [{"name", "labels"}], "pods": [{"namespace", "name", "labels", "ip", "ports"}],
     "policies": [NetworkPolicy dicts], "externals": ["192.0.2.10", ...]}

The vocabularies are small on purpose: with few label keys and values, selectors, named ports and
CIDRs collide often, so several policies select the same pod and every field matters. Every policy
is valid for the API server (the engine validates it); the generator never relies on an oracle.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

NAMESPACE_NAMES = ("x", "y", "z")
NAMESPACE_LABELS = {"team": ("blue", "red"), "env": ("prod", "dev")}
POD_LABELS = {"app": ("a", "b", "c"), "tier": ("web", "db"), "env": ("prod", "dev")}
# (number, protocol): a pod serves a few of these. 80 and 53 exist on two protocols.
CONTAINER_PORTS = ((80, "TCP"), (81, "TCP"), (8080, "TCP"), (53, "UDP"), (53, "TCP"), (80, "UDP"), (5000, "SCTP"))
PORT_NAMES = ("http", "web", "dns", "serve", "alt")
# A quarter of the clusters are IPv6; ipBlocks of the other family (which match nothing) stay possible.
EXTERNALS = {4: ("192.0.2.10", "10.0.9.9", "198.51.100.7"), 6: ("2001:db8::10", "fd00:10:9::9", "2001:db8:1::7")}
CIDRS = {
    4: ("10.0.0.0/16", "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/23", "10.0.0.0/8", "0.0.0.0/0", "192.0.2.0/24"),
    6: ("fd00:10::/32", "fd00:10:0::/48", "fd00:10:1::/48", "fd00:10::/120", "::/0", "2001:db8::/32"),
}
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _selector(rng: random.Random, vocab: dict[str, tuple[str, ...]], extra_key: tuple[str, tuple] | None = None):
    """A LabelSelector: empty, matchLabels, matchExpressions or both."""
    keys = dict(vocab)
    if extra_key is not None:
        keys[extra_key[0]] = extra_key[1]
    sel: dict[str, Any] = {}
    kind = rng.random()
    if kind < 0.2:
        return sel
    if kind < 0.7:
        chosen = rng.sample(sorted(keys), rng.randint(1, 2))
        sel["matchLabels"] = {k: rng.choice(keys[k]) for k in chosen}
    if kind >= 0.5:
        exprs = []
        for key in rng.sample(sorted(keys), rng.randint(1, 2)):
            op = rng.choice(OPERATORS)
            expr: dict[str, Any] = {"key": key, "operator": op}
            if op in ("In", "NotIn"):
                expr["values"] = sorted(rng.sample(keys[key], rng.randint(1, len(keys[key]))))
            exprs.append(expr)
        sel["matchExpressions"] = exprs
    return sel


def _ip_block(rng: random.Random, addresses: list[str]) -> dict:
    family = ipaddress.ip_address(addresses[0]).version
    if rng.random() < 0.05:
        family = 10 - family  # the other family: matches no endpoint here
    host = rng.choice(addresses)
    cidr = f"{host}/{ipaddress.ip_address(host).max_prefixlen}" if rng.random() < 0.25 else rng.choice(CIDRS[family])
    net = ipaddress.ip_network(cidr)
    block: dict[str, Any] = {"cidr": cidr}
    inside = [a for a in addresses if ipaddress.ip_address(a) in net]
    if net.prefixlen < 32 and inside and rng.random() < 0.6:
        excepts = set()
        for _index in range(rng.randint(1, 2)):
            prefix = rng.randint(max(net.prefixlen + 1, net.max_prefixlen // 2), net.max_prefixlen)
            excepts.add(str(ipaddress.ip_network(f"{rng.choice(inside)}/{prefix}", strict=False)))
        block["except"] = sorted(excepts)
    return block


def _peer(rng: random.Random, namespaces: list[str], addresses: list[str]) -> dict:
    kind = rng.random()
    if kind < 0.25:
        return {"ipBlock": _ip_block(rng, addresses)}
    ns_key = ("kubernetes.io/metadata.name", tuple(namespaces))
    if kind < 0.5:
        return {"podSelector": _selector(rng, POD_LABELS)}
    if kind < 0.75:
        return {"namespaceSelector": _selector(rng, NAMESPACE_LABELS, ns_key)}
    return {"podSelector": _selector(rng, POD_LABELS), "namespaceSelector": _selector(rng, NAMESPACE_LABELS, ns_key)}


def _port_entry(rng: random.Random) -> dict:
    entry: dict[str, Any] = {}
    if rng.random() < 0.7:
        entry["protocol"] = rng.choice(("TCP", "TCP", "UDP", "SCTP"))
    kind = rng.random()
    if kind < 0.4:
        number, proto = rng.choice(CONTAINER_PORTS)
        entry["port"] = number
        if "protocol" in entry and rng.random() < 0.5:
            entry["protocol"] = proto
    elif kind < 0.65:
        entry["port"] = rng.choice(PORT_NAMES)
    elif kind < 0.85:
        start = rng.choice((50, 53, 79, 80, 81, 1000, 5000, 8000))
        entry["port"] = start
        entry["endPort"] = start + rng.choice((0, 1, 3, 30, 3000))
    return entry


def _rules(rng: random.Random, peers_key: str, namespaces: list[str], addresses: list[str]):
    """None (field absent), [] or 1-2 rules."""
    kind = rng.random()
    if kind < 0.3:
        return None
    if kind < 0.4:
        return []
    rules = []
    for _index in range(rng.randint(1, 2)):
        rule: dict[str, Any] = {}
        r = rng.random()
        if r < 0.15:
            rule[peers_key] = []
        elif r < 0.85:
            rule[peers_key] = [_peer(rng, namespaces, addresses) for _index in range(rng.randint(1, 3))]
        r = rng.random()
        if r < 0.1:
            rule["ports"] = []
        elif r < 0.7:
            rule["ports"] = [_port_entry(rng) for _index in range(rng.randint(1, 2))]
        rules.append(rule)
    return rules


def _policy(rng: random.Random, index: int, namespaces: list[str], addresses: list[str]) -> dict:
    spec: dict[str, Any] = {"podSelector": _selector(rng, POD_LABELS)}
    ingress = _rules(rng, "from", namespaces, addresses)
    egress = _rules(rng, "to", namespaces, addresses)
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    types = rng.choice((None, None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]))
    if types is not None:
        spec["policyTypes"] = types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"namespace": rng.choice(namespaces), "name": f"np-{index}"},
        "spec": spec,
    }


def random_cluster(rng: random.Random) -> dict:
    """One random cluster: 1-3 namespaces, 1-3 pods each, 1-5 policies, 1-2 non-pod addresses."""
    family = 6 if rng.random() < 0.25 else 4
    namespaces = sorted(rng.sample(NAMESPACE_NAMES, rng.randint(1, 3)))
    ns_objs = []
    for name in namespaces:
        labels = {k: rng.choice(v) for k, v in NAMESPACE_LABELS.items() if rng.random() < 0.6}
        ns_objs.append({"name": name, "labels": labels})
    pods = []
    used_ips: set[str] = set()
    for n, ns in enumerate(namespaces):
        for j in range(rng.randint(1, 3)):
            while True:
                subnet, host = rng.choice((n, n, 1)), rng.randint(1, 254)
                ip = f"10.0.{subnet}.{host}" if family == 4 else f"fd00:10:{subnet}::{host:x}"
                if ip not in used_ips:
                    break
            used_ips.add(ip)
            served = rng.sample(CONTAINER_PORTS, rng.randint(1, 3))
            names = rng.sample(PORT_NAMES, len(served))
            ports = []
            for (number, proto), pname in zip(served, names, strict=True):
                port = {"port": number, "protocol": proto}
                if rng.random() < 0.75:
                    port["name"] = pname
                ports.append(port)
            labels = {k: rng.choice(v) for k, v in POD_LABELS.items() if rng.random() < 0.6}
            pods.append({"namespace": ns, "name": f"p{j}", "labels": labels, "ip": ip, "ports": ports})
    externals = sorted(rng.sample(EXTERNALS[family], rng.randint(1, 2)))
    addresses = sorted(used_ips) + externals
    policies = [_policy(rng, i, namespaces, addresses) for i in range(rng.randint(1, 5))]
    return {"namespaces": ns_objs, "pods": pods, "policies": policies, "externals": externals}


def served_ports(cluster: dict) -> list[tuple[int, str]]:
    """Every (number, protocol) some pod serves, sorted: the ports the oracles are asked about."""
    return sorted({(p["port"], p["protocol"]) for pod in cluster["pods"] for p in pod["ports"]})
