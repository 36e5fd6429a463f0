"""Documentation: the HTML docsite (`make docsite`) has a page per module and role; docs say one thing once."""

from __future__ import annotations

import ast
import collections
import importlib.util
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if not path.stem.startswith("_"))
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "meta" / "argument_specs.yml").is_file())


def load_docsite_script():
    spec = importlib.util.spec_from_file_location("docsite", ROOT / "scripts" / "docsite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("docsite") / "site"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docsite.py"), "--dest", str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return dest


def test_there_is_something_to_document():
    assert "aks_cluster" in MODULES
    assert "probe_connectivity" in MODULES
    assert set(ROLES) >= {"aks", "vnet", "workload", "policies"}


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_a_page(site, module):
    page = site / "build" / "html" / f"{module}_module.html"
    assert page.is_file(), f"no page for netpol.aks.{module}"
    text = page.read_text()
    assert f"netpol.aks.{module} module" in text
    for section in ("Parameters", "Examples", "Return Values"):
        assert section in text, f"{page.name}: no {section}"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_page(site, role):
    page = site / "build" / "html" / f"{role}_role.html"
    assert page.is_file(), f"no page for netpol.aks.{role}"
    text = page.read_text()
    assert f"netpol.aks.{role} role" in text
    assert "Entry point <code" in text or "Entry point" in text


def test_index_links_every_page(site):
    index = (site / "build" / "html" / "index.html").read_text()
    for module in MODULES:
        assert f'href="{module}_module.html' in index, module
    for role in ROLES:
        assert f'href="{role}_role.html' in index, role


def test_docsite_is_built_offline(site):
    """Sphinx reads the Ansible documentation's labels from a local inventory, never from the network."""
    conf = (site / "conf.py").read_text()
    assignments = re.findall(r"^intersphinx_mapping = (.*)$", conf, flags=re.MULTILINE)
    mapping = ast.literal_eval(assignments[-1])  # the last assignment wins in conf.py
    assert all(Path(inventory).is_file() for _uri, inventory in mapping.values()), mapping
    inventory = (site / "ansible.inv").read_bytes()
    entries = zlib.decompress(inventory.split(b"zlib.\n", 1)[1]).decode()
    assert "common_return_values std:label -1 reference_appendices/common_return_values.html" in entries


def test_external_labels_map_to_the_ansible_docs_or_fail(tmp_path):
    docsite = load_docsite_script()
    (tmp_path / "a.rst").write_text(
        ".. _ansible_collections.netpol.aks.x_module:\n\n"
        ":ref:`ansible_collections.netpol.aks.x_module`, :ref:`k8s <ansible_collections.kubernetes.core.k8s_module>`,"
        " :ref:`common_return_values`\n"
    )
    assert docsite.external_labels(tmp_path) == {
        "ansible_collections.kubernetes.core.k8s_module": (
            "collections/kubernetes/core/k8s_module.html",
            "kubernetes.core.k8s",
        ),
        "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    }
    (tmp_path / "b.rst").write_text(":ref:`somewhere_unknown`\n")
    with pytest.raises(SystemExit, match="somewhere_unknown"):
        docsite.external_labels(tmp_path)


@pytest.fixture(scope="module")
def module_docs() -> dict:
    run = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", *(f"netpol.aks.{module}" for module in MODULES)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("module", MODULES)
def test_each_requirement_is_stated_once(module_docs, module):
    """Fragments and the module may both list requirements: one package, one line (no 24.2.0 beside 37.0.0)."""
    requirements = module_docs[f"netpol.aks.{module}"]["doc"].get("requirements", [])
    by_package = collections.defaultdict(list)
    for line in requirements:
        by_package[re.split(r"[\s<>=!~(]", line.strip(), maxsplit=1)[0].lower()].append(line)
    repeated = {package: lines for package, lines in by_package.items() if len(lines) > 1}
    assert not repeated, f"netpol.aks.{module}: {repeated}"


def test_single_probe_return_values_are_documented(module_docs):
    returned = module_docs["netpol.aks.probe_connectivity"]["return"]
    for key in ("result", "exit_code", "output", "elapsed", "expected"):
        assert key in returned, f"probe_connectivity returns {key} for a single probe; RETURN does not say so"


def test_aks_credentials_documents_what_check_mode_leaves_null(module_docs):
    returned = module_docs["netpol.aks.aks_credentials"]["return"]
    for key in ("path", "context", "server", "checksum"):
        assert key in returned
    for key in ("server", "checksum"):
        assert "check mode" in " ".join(returned[key]["description"])


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_names_every_input_and_fact(role):
    """A README like the other roles': what it does, and every public fact it sets for later tasks."""
    readme = ROOT / "roles" / role / "README.md"
    assert readme.is_file(), f"roles/{role} has no README.md"
    text = readme.read_text()
    assert text.startswith(f"# netpol.aks.{role}\n")
    facts = set()
    for tasks in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        for task in _tasks(yaml.safe_load(tasks.read_text()) or []):
            facts.update(name for name in (task.get("ansible.builtin.set_fact") or {}) if not name.startswith("_"))
    missing = sorted(fact for fact in facts if f"`{fact}`" not in text)
    assert not missing, f"roles/{role}/README.md does not document the facts {missing}"


def _tasks(tasks: list) -> list[dict]:
    out = []
    for task in tasks:
        out.append(task)
        for key in ("block", "rescue", "always"):
            out += _tasks(task.get(key) or [])
    return out


def test_pytest_ansible_is_not_used():
    """Its collection injection breaks this suite (README, "Why not pytest-ansible"): nothing may pull it in."""
    assert importlib.util.find_spec("pytest_ansible") is None, "pytest-ansible is installed (a dependency pulls it in?)"
    readme = (ROOT / "README.md").read_text()
    assert "### Why not pytest-ansible" in readme
    assert "December 2026" in readme
