"""Execution environment: meta/execution-environment.yml for ansible-builder, and the top-level definition."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


def requirement_names(lines: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ ;\[#]", line.strip(), maxsplit=1)[0].lower() for line in lines}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A directory holding the collection tarball and a copy of execution-environment.yml, as a user has."""
    where = tmp_path_factory.mktemp("ee")
    run(BIN / "ansible-galaxy", "collection", "build", "--output-path", where, ROOT, cwd=ROOT)
    shutil.copy(ROOT / "execution-environment.yml", where)
    return where


def test_meta_execution_environment_points_at_requirements_txt():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt"}
    assert (ROOT / meta["dependencies"]["python"]).is_file()


def test_introspection_of_the_installed_collection_yields_requirements_txt(built, tmp_path):
    """ansible-builder reads the Python requirements from the installed collection, as it does in a build."""
    from ansible_builder._target_scripts.introspect import EXCLUDE_REQUIREMENTS

    (tarball,) = built.glob("netpol-aks-*.tar.gz")
    collections = tmp_path / "collections"
    run(
        BIN / "ansible-galaxy",
        "collection",
        "install",
        "--force",
        "--no-deps",
        "-p",
        collections,
        tarball,
        cwd=tmp_path,
    )
    found = yaml.safe_load(run(BIN / "ansible-builder", "introspect", collections, cwd=tmp_path).split("---", 1)[1])
    ours = [line for line in found["python"] if line.endswith("# from collection netpol.aks")]
    wanted = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    expected = {name for name in requirement_names(wanted) if name not in EXCLUDE_REQUIREMENTS}
    assert requirement_names(ours) == expected
    assert "azure-identity" in expected


def test_definition_repeats_no_requirement_and_no_version():
    text = (ROOT / "execution-environment.yml").read_text()
    definition = yaml.safe_load(text)
    assert "python" not in definition["dependencies"], "Python requirements come from meta/execution-environment.yml"
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert galaxy["version"] not in text, "the collection's version is hard-coded"
    collections = [entry["name"] for entry in definition["dependencies"]["galaxy"]["collections"]]
    assert collections == ["/build/collection/netpol-aks.tar.gz"], "collection dependencies come from galaxy.yml"


def test_ansible_builder_create_writes_a_build_context(built):
    run(BIN / "ansible-builder", "create", "--file", "execution-environment.yml", "--context", "context", cwd=built)
    context = built / "context"
    containerfile = next(context / name for name in ("Containerfile", "Dockerfile") if (context / name).exists())
    steps = containerfile.read_text()
    (tarball,) = (context / "_build" / "collection").glob("netpol-aks-*.tar.gz")
    assert tarball.name == next(built.glob("netpol-aks-*.tar.gz")).name
    assert "RUN mv /build/collection/netpol-aks-*.tar.gz /build/collection/netpol-aks.tar.gz" in steps
    # the rename happens before the galaxy stage installs the requirements
    assert steps.index("RUN mv /build/collection") < steps.index("ansible-galaxy collection install")
    galaxy_requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert galaxy_requirements == {"collections": [{"name": "/build/collection/netpol-aks.tar.gz", "type": "file"}]}
    assert not (context / "_build" / "requirements.txt").exists(), "Python requirements repeated in the definition"
    assert "ansible-core>=2.21" in steps
