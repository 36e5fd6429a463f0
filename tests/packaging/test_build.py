"""The release tarball: `ansible-galaxy collection build` ships the collection and its licence, nothing else.

These tests read the repository (galaxy.yml, the build tooling) and are left out of the tarball.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# What a user or a downstream packager gets: the collection's content, its documentation, changelog,
# licence, requirements, molecule scenarios (molecule/, extensions/molecule/) and tests (as kubernetes.core and community.general ship).
COLLECTION_TOP_LEVEL = {
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "COPYING",
    "LICENSES",
    "REUSE.toml",
    "changelogs",
    "docs",
    "extensions",
    "meta",
    "molecule",
    "playbooks",
    "plugins",
    "requirements.txt",
    "requirements.yml",
    "roles",
    "tests",
}

# Development-only files, at any depth: none of them may reach the tarball.
DEVELOPMENT_ONLY = (
    "Makefile",
    "ansible.cfg",
    "execution-environment.yml",
    "requirements-dev.txt",
    "ruff.toml",
    ".ansible-lint",
    ".yamllint",
    ".gitignore",
    ".ci",
    ".ci/*",
    "scripts",
    "scripts/*",
    "benchmarks",
    "benchmarks/*",
    "docs/dev",
    "docs/dev/*",
    "tests/output",
    "tests/output/*",
    "tests/packaging",
    "tests/packaging/*",
    "*.pyc",
    "*/__pycache__",
    "*/__pycache__/*",
    ".venv*",
    ".collections*",
    ".lab*",
    ".docsite*",
    "*.tar.gz",
)

SYSTEM_FOLDERS = ("/", tempfile.gettempdir(), "/var/tmp", "/home", "/root")
# Paths of the machine the collection is built on (the checkout, and the folder that holds it unless that
# is a system one) belong to how it is built, not to the product.
_HOLDER = ROOT.resolve().parent
WORKING_NOTES = tuple(
    f"{path}/" for path in [ROOT.resolve(), _HOLDER] if path != _HOLDER or str(path) not in SYSTEM_FOLDERS
)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> tarfile.TarFile:
    out = tmp_path_factory.mktemp("build")
    run = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (built,) = out.glob("netpol-aks-*.tar.gz")
    with tarfile.open(built) as archive:
        yield archive


def development_only(name: str) -> list[str]:
    return [pattern for pattern in DEVELOPMENT_ONLY if fnmatch.fnmatch(name, pattern)]


def test_development_only_patterns_match_what_they_should():
    assert development_only("Makefile") == ["Makefile"]
    assert development_only("scripts/sanity.py") == ["scripts/*"]
    assert development_only("plugins/modules/__pycache__/x.cpython-313.pyc")
    assert not development_only("plugins/modules/aks_cluster.py")
    assert not development_only("roles/aks/README.md")


def test_tarball_top_level_is_collection_content(tarball):
    top = {member.name.split("/", 1)[0] for member in tarball.getmembers()}
    assert top <= COLLECTION_TOP_LEVEL, f"not collection content: {sorted(top - COLLECTION_TOP_LEVEL)}"
    assert {"plugins", "roles", "playbooks", "meta", "COPYING", "LICENSES"} <= top


def test_tarball_has_no_development_files(tarball):
    found = {member.name: development_only(member.name) for member in tarball.getmembers()}
    found = {name: patterns for name, patterns in found.items() if patterns}
    assert not found, f"development-only files in the tarball: {found}"


def test_tarball_has_no_working_notes(tarball):
    offenders = []
    for member in tarball.getmembers():
        if not member.isfile():
            continue
        text = tarball.extractfile(member).read().decode("utf-8", errors="replace")
        offenders += [f"{member.name}: {word}" for word in WORKING_NOTES if word in text]
    assert not offenders, offenders


def test_tarball_carries_the_licence(tarball):
    copying = tarball.extractfile("COPYING").read().decode()
    assert "GNU GENERAL PUBLIC LICENSE" in copying
    assert "Version 3, 29 June 2007" in copying
    link = tarball.getmember("LICENSES/GPL-3.0-or-later.txt")
    assert link.issym()
    assert link.linkname == "../COPYING"
    manifest = json.loads(tarball.extractfile("MANIFEST.json").read())
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]


def test_galaxy_licence_fields_agree_with_the_files():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    assert "license_file" not in galaxy, "galaxy.yml: `license` and `license_file` are mutually exclusive"
    assert (ROOT / "LICENSES" / "GPL-3.0-or-later.txt").resolve() == (ROOT / "COPYING").resolve()


def test_repository_is_reuse_compliant():
    """Every file has a licence and copyright, by its own header or REUSE.toml (REUSE 3.3)."""
    run = subprocess.run([str(BIN / "reuse"), "lint"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_requires_ansible_claims_only_the_tested_core():
    """meta/runtime.yml's lower bound is the ansible-core release the suite runs on (requirements.txt's `ansible`)."""
    from ansible.release import __version__ as core_version

    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    tested = ".".join(core_version.split(".")[:2])
    assert runtime["requires_ansible"] == f">={tested}.0", f"tested with ansible-core {core_version}"


def test_sanity_ignore_files_are_empty():
    """Sanity findings are fixed, not silenced (make sanity runs every test this machine can run)."""
    ignores = sorted((ROOT / "tests" / "sanity").glob("ignore-*.txt"))
    assert ignores, "tests/sanity/ignore-<core>.txt is missing"
    for ignore in ignores:
        lines = [line for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert not lines, f"{ignore.relative_to(ROOT)}: {lines}"
