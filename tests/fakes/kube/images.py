# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The container images the simulated kubelet can "pull", and how they behave."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    family: str  # nginx | busybox | alpine
    user: int  # the uid the image runs as (USER in its Dockerfile; 0 = root)
    http_ports: tuple[int, ...]  # ports the image's server listens on without configuration
    tools: frozenset[str]
    shell: str = "busybox"  # whose `sh` answers: busybox (busybox, alpine, *-alpine) or dash (Debian-based)


_SHELL_TOOLS = frozenset(
    {"sh", "ash", "wget", "nc", "sed", "sleep", "tail", "cat", "hostname", "echo", "true", "false", "ls", "env"}
)
_NGINX_TOOLS = frozenset({"sh", "cat", "hostname", "sleep", "echo", "true", "false", "ls", "env", "sed", "nginx"})


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name.rsplit(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # registry host
    if len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


_KNOWN = {
    "nginx": Image("nginx", 0, (80,), _NGINX_TOOLS, "dash"),
    "nginxinc/nginx-unprivileged": Image("nginx", 101, (8080,), _NGINX_TOOLS, "dash"),
    "bitnami/nginx": Image("nginx", 1001, (8080,), _NGINX_TOOLS, "dash"),
    "busybox": Image("busybox", 0, (), _SHELL_TOOLS),
    "e2e-test-images/busybox": Image("busybox", 0, (), _SHELL_TOOLS),
    "alpine": Image("alpine", 0, (), _SHELL_TOOLS),
}
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def lookup(image: str) -> Image | None:
    """The image's behaviour, or None when the registry would not have it (ErrImagePull)."""
    if not image or image != image.strip():
        return None
    name = image.split("@", 1)[0]
    tail = name.rsplit("/", 1)[-1]
    if ":" in tail and not _TAG.match(tail.split(":", 1)[1]):
        return None
    known = _KNOWN.get(_repository(image))
    tag = tail.split(":", 1)[1] if ":" in tail else ""
    if known is not None and known.shell == "dash" and "alpine" in tag:
        # The -alpine variants carry busybox: wget and nc are there, and sh is busybox's.
        return Image(known.family, known.user, known.http_ports, known.tools | _SHELL_TOOLS, "busybox")
    return known


def image_ref(image: str) -> str:
    """What the kubelet reports as `image`: the fully qualified reference."""
    name = image
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + (name if "/" in name else "library/" + name)
    tail = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in tail:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    ref = image_ref(image)
    digest = hashlib.sha256(ref.split("@", 1)[0].encode()).hexdigest()
    repo = ref.split("@", 1)[0].rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref.split("@", 1)[0]
    return f"{repo}@sha256:{digest}"
