"""Fixtures shared by the real lab's tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def cp_info(tmp_path_factory):
    """The real control plane's info.json: a running one (NETPOL_LAB_CONTROL_PLANE_INFO) or one started here."""
    given = os.environ.get("NETPOL_LAB_CONTROL_PLANE_INFO")
    if given:
        yield json.loads(Path(given).read_text())
        return
    from tests.lab.control_plane import ControlPlane

    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    plane.start()
    try:
        yield plane.info
    finally:
        plane.stop()
