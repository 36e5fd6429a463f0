"""Build the collection's HTML documentation with antsibull-docs and Sphinx, offline.

Usage: scripts/docsite.py [--dest DIR]     (default: .docsite; the site is DIR/build/html/index.html)

antsibull-docs writes a Sphinx project (sphinx-init) and one page per module and role from the
collection's own documentation (the modules' DOCUMENTATION/EXAMPLES/RETURN, the roles'
meta/argument_specs.yml); Sphinx turns it into HTML with every warning an error.

The pages link to the Ansible documentation (common return values, configuration settings, other
collections' modules). Sphinx resolves such links from the remote site's inventory (intersphinx),
which is not reachable offline; this script writes that inventory itself for the labels the pages
use, pointing at the same addresses, so the links work and nothing is fetched.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COLLECTION = "netpol.aks"
ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"

# Labels of the Ansible documentation that generated pages refer to, and where they live.
ANSIBLE_LABELS = {
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible Configuration Settings"),
}
OTHER_COLLECTION_PLUGIN = re.compile(r"ansible_collections\.(\w+)\.(\w+)\.(\w+)_(module|role|[a-z]+)$")


def run(*command: str | Path, cwd: Path) -> None:
    # antsibull-docs runs ansible-doc and ansible-galaxy: the ones next to this Python.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(part) for part in command], cwd=cwd, check=True, env=env)


def external_labels(rst: Path) -> dict[str, tuple[str, str]]:
    """Every label the pages refer to but do not define, with its address in the Ansible documentation."""
    defined, used = set(), set()
    for page in rst.glob("**/*.rst"):
        text = page.read_text()
        defined.update(re.findall(r"^\.\. _([^:]+):$", text, flags=re.MULTILINE))
        used.update(re.findall(r":ref:`(?:[^`<]*<)?([^`<>]+)>?`", text))
    missing = {}
    for label in sorted(used - defined):
        if label in ANSIBLE_LABELS:
            missing[label] = ANSIBLE_LABELS[label]
        elif match := OTHER_COLLECTION_PLUGIN.match(label):
            namespace, name, plugin, kind = match.groups()
            if f"{namespace}.{name}" == COLLECTION:
                raise SystemExit(f"docsite: {label} is referred to but has no page")
            missing[label] = (f"collections/{namespace}/{name}/{plugin}_{kind}.html", f"{namespace}.{name}.{plugin}")
        else:
            raise SystemExit(
                f"docsite: the pages refer to {label!r} of the Ansible documentation; add its address to "
                "ANSIBLE_LABELS in scripts/docsite.py"
            )
    return missing


def write_inventory(path: Path, labels: dict[str, tuple[str, str]]) -> None:
    """A Sphinx inventory (objects.inv, version 2) of std:label entries."""
    header = "# Sphinx inventory version 2\n# Project: Ansible\n# Version: latest\n"
    header += "# The remainder of this file is compressed using zlib.\n"
    body = "".join(f"{label} std:label -1 {uri} {title}\n" for label, (uri, title) in labels.items())
    path.write_bytes(header.encode() + zlib.compress(body.encode()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".docsite")
    dest = parser.parse_args(argv).dest.resolve()
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(mode=0o755, parents=True)
    os.chmod(dest, 0o755)  # antsibull-docs wants its directories writable by their owner only
    run(
        BIN / "antsibull-docs",
        "sphinx-init",
        "--use-current",
        "--squash-hierarchy",
        "--fail-on-error",
        "--no-add-antsibull-docs-version",
        "--project",
        COLLECTION,
        "--copyright",
        "netpol.aks contributors",
        "--title",
        "netpol.aks collection",
        "--html-short-title",
        COLLECTION,
        "--dest-dir",
        dest,
        COLLECTION,
        cwd=ROOT,
    )
    rst = dest / "rst"
    rst.chmod(0o755)
    run(
        BIN / "antsibull-docs",
        "--config-file",
        dest / "antsibull-docs.cfg",
        "collection",
        "--cleanup",
        "everything",
        "--fail-on-error",
        "--use-current",
        "--squash-hierarchy",
        "--dest-dir",
        rst,
        COLLECTION,
        cwd=ROOT,
    )
    write_inventory(dest / "ansible.inv", external_labels(rst))
    conf = dest / "conf.py"
    conf.write_text(
        conf.read_text()
        + "\n# Offline: the Ansible documentation's labels come from a local inventory (scripts/docsite.py).\n"
        + f"intersphinx_mapping = {{'ansible': ({ANSIBLE_DOCS!r}, {str(dest / 'ansible.inv')!r})}}\n"
    )
    run(BIN / "sphinx-build", "-M", "html", rst, dest / "build", "-c", dest, "-W", "--keep-going", "-q", cwd=dest)
    print(f"docsite: {dest / 'build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
