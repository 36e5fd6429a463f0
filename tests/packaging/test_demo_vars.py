# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/vars/demo.yml sets only what differs from the roles' defaults (which are the walkthrough's values)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEMO_VARS = ROOT / "playbooks" / "vars" / "demo.yml"
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "defaults" / "main.yml").is_file())

# A role default repeated in demo.yml because a play uses it where the role's defaults are not visible (no
# import_role of that role in the play): the role, the play, and the tasks file that uses it.
NEEDED_OUTSIDE_THE_ROLE = {"vnet_resource_group": ("vnet", "playbooks/teardown.yml", "playbooks/steps/teardown.yml")}


def _defaults() -> dict[str, tuple[str, object]]:
    found = {}
    for role in ROLES:
        for name, value in (
            yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
        ).items():
            found[name] = (role, value)
    return found


def test_demo_vars_set_only_what_differs_from_the_role_defaults():
    demo = yaml.safe_load(DEMO_VARS.read_text())
    defaults = _defaults()
    repeated = sorted(
        f"{name} (roles/{defaults[name][0]}/defaults/main.yml)"
        for name, value in demo.items()
        if name in defaults and defaults[name][1] == value and name not in NEEDED_OUTSIDE_THE_ROLE
    )
    assert repeated == [], "playbooks/vars/demo.yml repeats role defaults: drop them"


def test_each_repeated_default_is_used_where_its_role_is_not_imported():
    demo = yaml.safe_load(DEMO_VARS.read_text())
    defaults = _defaults()
    for name, (role, play, tasks) in NEEDED_OUTSIDE_THE_ROLE.items():
        assert defaults[name] == (role, demo[name]), f"{name} no longer repeats a default: remove the exception"
        assert re.search(r"\{\{\s*" + name + r"\s*\}\}", (ROOT / tasks).read_text()), f"{tasks} does not use {name}"
        play_text = (ROOT / play).read_text()
        assert tasks.removeprefix("playbooks/") in play_text, f"{play} does not import {tasks}"
        assert not re.search(r"import_role:\s*\n\s*name:\s*netpol\.aks\." + role + r"\b", play_text), (
            f"{play} imports the {role} role, whose defaults are then visible: drop {name} from demo.yml"
        )
