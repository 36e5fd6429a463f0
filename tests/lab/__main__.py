# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""python -m tests.lab up|down|status: the local lab (tests/lab/local_lab.py)."""

import sys

from tests.lab import local_lab

sys.exit(local_lab.main())
