"""Molecule scenarios work from the top-level molecule/ and from extensions/molecule/, with one base config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCENARIOS = sorted(path.parent.name for path in (ROOT / "molecule").glob("*/molecule.yml"))
LAYOUTS = {
    "top-level molecule/": None,
    "extensions/molecule/": "extensions/molecule/*/molecule.yml",
}


def test_both_scenarios_exist():
    assert SCENARIOS == ["default", "kind"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_extensions_scenarios_are_the_top_level_ones(scenario):
    """extensions/molecule/<scenario>/molecule.yml links to molecule/<scenario>/molecule.yml: one copy."""
    link = ROOT / "extensions" / "molecule" / scenario / "molecule.yml"
    assert link.is_symlink(), f"{link.relative_to(ROOT)} should link to molecule/{scenario}/molecule.yml"
    assert link.resolve() == (ROOT / "molecule" / scenario / "molecule.yml").resolve()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenarios_hold_only_what_differs_from_the_base_config(scenario):
    base = yaml.safe_load((ROOT / "extensions" / "molecule" / "config.yml").read_text())
    own = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    assert set(own) == {"ansible"}, f"molecule/{scenario}/molecule.yml repeats {set(own) - {'ansible'}}"
    assert set(own["ansible"]["playbooks"]) == {"create", "destroy"}
    assert {"converge", "verify"} <= set(base["ansible"]["playbooks"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_molecule_finds_and_checks_every_scenario(layout):
    """`molecule syntax` resolves each scenario with the shared base config (converge and verify come from it)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    env.pop("MOLECULE_GLOB", None)
    if LAYOUTS[layout]:
        env["MOLECULE_GLOB"] = LAYOUTS[layout]
    run = subprocess.run(
        [str(BIN / "molecule"), "syntax", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    converge = f"playbook: {ROOT / 'molecule' / 'resources' / 'converge.yml'}"
    assert output.count(converge) == len(SCENARIOS), output[-4000:]
