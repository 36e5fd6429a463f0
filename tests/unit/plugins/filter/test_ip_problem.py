"""The filter netpol.aks.ip_problem: why a value is not a network (or an address), in words."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.filter.ip_problem import FilterModule
from ansible_collections.netpol.aks.plugins.filter.ip_problem import ip_problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.240.0.0/16", ""),
        ("fd00::/64", ""),
        ("10.300.0.0/16", "'10.300.0.0/16' is not an IPv4 network in CIDR notation: Octet 300 (> 255) not permitted"),
        ("10.240.0.1/16", "has host bits set; did you mean 10.240.0.0/16?"),
        ("10.240.0.0", "'10.240.0.0' has no prefix length; write it in CIDR notation, e.g. 10.240.0.0/16"),
        ("10.0.0.0/33", "'33' is not a valid netmask"),
        ("fd00::g/64", "is not an IPv6 network"),
        ("", "is not a network such as 10.240.0.0/16"),
        (8, "8 is not a string"),
    ],
)
def test_network_problems(value, problem):
    if problem:
        assert problem in ip_problem(value)
    else:
        assert ip_problem(value) == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.0.0.10", ""),
        ("10.0.0.300", "'10.0.0.300' is not an IPv4 address: Octet 300 (> 255) not permitted"),
        ("10.0.0.10/32", "is a range, not a single address"),
    ],
)
def test_address_problems(value, problem):
    if problem:
        assert problem in ip_problem(value, "address")
    else:
        assert ip_problem(value, "address") == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("172.17.0.1/16", ""),  # the walkthrough's --docker-bridge-address: host bits are the point
        ("172.17.0.1", "'172.17.0.1' has no prefix length"),
        ("172.17.0.300/16", "is not an IPv4 address with a prefix length: Octet 300"),
        ("172.17.0.1/40", "'40' is not a valid netmask"),
    ],
)
def test_interface_problems(value, problem):
    if problem:
        assert problem in ip_problem(value, "interface")
    else:
        assert ip_problem(value, "interface") == ""


def test_unknown_kind_is_an_error():
    with pytest.raises(AnsibleFilterError, match="kind must be network, address or interface"):
        ip_problem("10.0.0.0/8", "range")


def test_registered_name():
    assert FilterModule().filters() == {"ip_problem": ip_problem}
