"""Run the ansible-test sanity tests that work offline.

ansible-test needs the collection under .../ansible_collections/netpol/aks, outside any git work tree
(inside one it lists files with git), so the tracked and new, not ignored, files are copied to a
temporary directory first. The tests left out (import, pep8,
pylint, yamllint, runtime-metadata, changelog, pslint, shellcheck) need tools or test containers
this machine lacks; ruff, yamllint, ansible-lint and antsibull-changelog cover that ground in
`make lint`.

ansible-test bootstraps pip into its virtualenvs with a script it downloads from
ci-files.testing.ansible.com, which is unreachable here; it first looks in its cache, so a stand-in
that installs the pip wheel bundled with Python (ensurepip, offline) is put there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

from ansible_test._internal.python_requirements import get_venv_packages

OFFLINE_TESTS = (
    "action-plugin-docs",
    "ansible-doc",
    "compile",
    "empty-init",
    "ignores",
    "line-endings",
    "no-assert",
    "no-get-exception",
    "no-illegal-filenames",
    "no-smart-quotes",
    "replace-urlopen",
    "shebang",
    "symlinks",
    "use-argspec-type-path",
    "use-compat-six",
    "validate-modules",
)

ROOT = Path(__file__).resolve().parent.parent


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


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="netpol-aks-sanity-") as scratch:
        return run_in(Path(scratch) / "ansible_collections" / "netpol" / "aks")


def run_in(tree: Path) -> int:
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if not source.is_file() or name.startswith(".collections/"):
            continue
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    link_dependencies(tree)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    seed_pip_bootstrap(python)
    command = [str(Path(sys.executable).with_name("ansible-test")), "sanity", "--python", python, "--color", "no"]
    for test in OFFLINE_TESTS:
        command += ["--test", test]
    return subprocess.run(command, cwd=tree, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
