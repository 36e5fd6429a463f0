"""The test plugins netpol.aks.ip_network, ip_address, ip_within and ip_overlapping."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.test.ip_address import TestModule as AddressTests
from ansible_collections.netpol.aks.plugins.test.ip_address import ip_address
from ansible_collections.netpol.aks.plugins.test.ip_network import TestModule as NetworkTests
from ansible_collections.netpol.aks.plugins.test.ip_network import ip_network
from ansible_collections.netpol.aks.plugins.test.ip_overlapping import ip_overlapping
from ansible_collections.netpol.aks.plugins.test.ip_within import ip_within


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.0/8", True),
        ("10.240.0.0/16", True),
        ("fd00::/64", True),
        ("10.300.0.0/16", False),  # issue: a pattern of digits accepted this
        ("10.240.0.1/16", False),  # host bits set
        ("10.240.0.0", False),  # no prefix length
        ("10.0.0.0/33", False),
        ("10.0.0/16", False),
        (" 10.0.0.0/8", False),
        ("", False),
        (None, False),
        (["10.0.0.0/8"], False),
    ],
)
def test_ip_network(value, expected):
    assert ip_network(value) is expected


def test_ip_network_version():
    assert ip_network("10.0.0.0/8", version=4)
    assert not ip_network("10.0.0.0/8", version=6)
    assert ip_network("fd00::/8", version=6)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.10", True),
        ("fd00::a", True),
        ("10.0.0.300", False),
        ("10.0.0.10/32", False),
        ("api", False),
        (5, False),
    ],
)
def test_ip_address(value, expected):
    assert ip_address(value) is expected


@pytest.mark.parametrize(
    ("value", "networks", "expected"),
    [
        ("10.240.0.0/16", ["10.0.0.0/8"], True),  # the walkthrough's subnet in its VNet
        ("10.240.0.0/16", "10.0.0.0/8", True),
        ("10.240.0.0/16", ["192.168.0.0/16", "10.0.0.0/8"], True),
        ("10.240.0.0/16", ["192.168.0.0/16"], False),
        ("10.0.0.0/7", ["10.0.0.0/8"], False),  # larger than the space
        ("10.0.0.10", "10.0.0.0/16", True),  # DNS service IP in the service range
        ("10.1.0.10", "10.0.0.0/16", False),
        ("fd00::a", "10.0.0.0/8", False),  # another family never matches
        ("10.240.0.0/16", [], False),
    ],
)
def test_ip_within(value, networks, expected):
    assert ip_within(value, networks) is expected


@pytest.mark.parametrize(
    ("value", "networks", "expected"),
    [
        ("10.0.0.0/16", "10.240.0.0/16", False),  # the walkthrough's service range and subnet
        ("10.0.0.0/16", "10.0.0.0/8", True),
        ("10.0.0.0/16", ["10.240.0.0/16", "10.0.128.0/17"], True),
        ("10.0.0.0/16", ["fd00::/8"], False),
        ("10.0.0.0/16", [], False),
    ],
)
def test_ip_overlapping(value, networks, expected):
    assert ip_overlapping(value, networks) is expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ip_within("10.300.0.0/16", "10.0.0.0/8"), "ip_within: '10.300.0.0/16' is not an IPv4 network"),
        (lambda: ip_within("10.0.0.10", ["10.0.0.1/16"]), "ip_within(networks): '10.0.0.1/16'"),
        (lambda: ip_within("10.0.0.300", "10.0.0.0/16"), "ip_within: '10.0.0.300' is not an IPv4 address"),
        (lambda: ip_within("10.0.0.10", {"a": 1}), "neither a network nor a list"),
        (lambda: ip_overlapping("10.0.0.0", "10.0.0.0/8"), "ip_overlapping: '10.0.0.0' has no prefix length"),
        (lambda: ip_overlapping("10.0.0.0/16", ["x"]), "ip_overlapping(networks): 'x'"),
    ],
)
def test_bad_input_is_an_error_that_names_it(call, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_the_plugins_register_their_names():
    assert NetworkTests().tests() == {"ip_network": ip_network}
    assert AddressTests().tests() == {"ip_address": ip_address}
