# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra ID + Azure Resource Manager test double (SIMULATED Azure). See server.py and ../README.md."""

from __future__ import annotations

from tests.fakes.azure.server import FakeAzure

__all__ = ["FakeAzure"]
