# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Address parsing shared by the collection's test and filter plugins (controller side, standard library only).

PRIVATE to the collection; may change at any time.

``network_problem(value)`` / ``address_problem(value)`` / ``interface_problem(value)`` say why a value is not
a network in CIDR notation (``10.240.0.0/16``), an address (``10.0.0.10``) or an address with a prefix length
(``172.17.0.1/16``), or return ``""``; ``as_networks(value, what)`` parses
one network or a list of them and raises ``ValueError`` naming ``what``.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _family(text: str) -> tuple[type, type, str]:
    """The classes and name of the address family the text is written in (a ':' means IPv6)."""
    if ":" in text:
        return ipaddress.IPv6Network, ipaddress.IPv6Address, "IPv6"
    return ipaddress.IPv4Network, ipaddress.IPv4Address, "IPv4"


def network_problem(value: Any, version: int | None = None) -> str:
    """Why ``value`` is not an IP network in CIDR notation (address/prefix length, no host bits), or ``""``."""
    if not isinstance(value, str):
        return f"{value!r} is not a string such as 10.240.0.0/16"
    text = value.strip()
    if text != value or not text:
        return f"'{value}' is not a network such as 10.240.0.0/16 (no spaces, not empty)"
    if "/" not in text:
        return f"'{value}' has no prefix length; write it in CIDR notation, e.g. {text}/16"
    network_class, _address_class, family = _family(text)
    try:
        network = network_class(text, strict=True)
    except ValueError as exc:
        reason = str(exc)
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f"; did you mean {network_class(text, strict=False)}?"
        return f"'{value}' is not an {family} network in CIDR notation: {reason}{hint}"
    if version is not None and network.version != version:
        return f"'{value}' is an IPv{network.version} network, IPv{version} is needed"
    return ""


def interface_problem(value: Any) -> str:
    """Why ``value`` is not an address with a prefix length (``172.17.0.1/16``, host bits allowed), or ``""``."""
    if not isinstance(value, str):
        return f"{value!r} is not a string such as 172.17.0.1/16"
    if "/" not in value:
        return f"'{value}' has no prefix length; write it as address/prefix length, e.g. {value}/16"
    network_class, _address_class, family = _family(value)
    try:
        network_class(value, strict=False)
    except ValueError as exc:
        return f"'{value}' is not an {family} address with a prefix length: {exc}"
    return ""


def address_problem(value: Any, version: int | None = None) -> str:
    """Why ``value`` is not a single IP address (no prefix length), or ``""``."""
    if not isinstance(value, str):
        return f"{value!r} is not a string such as 10.0.0.10"
    if "/" in value:
        return f"'{value}' is a range, not a single address such as 10.0.0.10"
    _network_class, address_class, family = _family(value)
    try:
        address = address_class(value)
    except ValueError as exc:
        return f"'{value}' is not an {family} address: {exc}"
    if version is not None and address.version != version:
        return f"'{value}' is an IPv{address.version} address, IPv{version} is needed"
    return ""


def as_network(value: Any, what: str) -> Network:
    problem = network_problem(value)
    if problem:
        raise ValueError(f"{what}: {problem}")
    return ipaddress.ip_network(value, strict=True)


def as_networks(value: Any, what: str) -> list[Network]:
    """One network or a list of networks; ``ValueError`` naming ``what`` for the first bad one."""
    if isinstance(value, str):
        return [as_network(value, what)]
    if not isinstance(value, Iterable) or isinstance(value, (bytes, dict)):
        raise ValueError(f"{what}: {value!r} is neither a network nor a list of networks")
    return [as_network(item, what) for item in value]


def as_address_or_network(value: Any, what: str) -> Address | Network:
    """A single address (``10.0.0.10``) or a network (``10.240.0.0/16``)."""
    if isinstance(value, str) and "/" not in value:
        problem = address_problem(value)
        if problem:
            raise ValueError(f"{what}: {problem}")
        return ipaddress.ip_address(value)
    return as_network(value, what)


def within(value: Address | Network, networks: list[Network]) -> bool:
    """Whether the address or network lies entirely inside at least one of the networks."""
    for network in networks:
        if network.version != value.version:
            continue
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            if value in network:
                return True
        elif value.subnet_of(network):
            return True
    return False


def overlapping(value: Network, networks: list[Network]) -> list[Network]:
    """The networks (of the same family) that share at least one address with ``value``."""
    return [network for network in networks if network.version == value.version and value.overlaps(network)]
