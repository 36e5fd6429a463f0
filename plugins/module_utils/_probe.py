# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the collection: the in-pod probe script and how its output is read.

One exec per source pod runs PROBE_SCRIPT with one argument per target; the targets are probed in
parallel inside the pod, so a source with ten blocked targets costs one timeout, not ten. The script
only needs busybox (sh, wget, nc, sed), which busybox and alpine images have.

Wire contract (the Kubernetes test double emulates exactly this command):
    command = ["sh", "-c", PROBE_SCRIPT, "netpol-probe", spec, spec, ...]
    spec    = "<index>|<kind>|<host>|<port>|<timeout seconds>"   kind: http | tcp
Output, per target, in any order between targets:
    "@<index> <one line of the tool's stdout/stderr>"   (zero or more lines)
    "@<index> rc=<exit code>"                           (exactly one, last for that index)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROBE_ARGV0 = "netpol-probe"

PROBE_SCRIPT = r"""run() {
  old_ifs=$IFS; IFS='|'; set -- $1; IFS=$old_ifs
  i=$1; kind=$2; host=$3; port=$4; t=$5
  case $kind in
    http) out=$(wget -q -O - -T "$t" "http://$host:$port/" 2>&1); rc=$? ;;
    tcp) out=$(nc -z -w "$t" "$host" "$port" 2>&1); rc=$? ;;
    *) out="netpol-probe: unknown probe kind '$kind'"; rc=2 ;;
  esac
  printf '%s\n' "$out" | sed "s/^/@$i /"
  echo "@$i rc=$rc"
}
for spec in "$@"; do run "$spec" & done
wait
"""

RESULTS = ("allowed", "blocked", "refused", "dns_error", "probe_error")

# What busybox wget / nc print (busybox 1.36, also alpine's): the failure modes must stay apart,
# a probe that could not run is never "blocked".
_BLOCKED = re.compile(r"download timed out|nc: timeout|Connection timed out")
_REFUSED = re.compile(r"Connection refused")
_DNS = re.compile(r"bad address|Name or service not known|Name does not resolve")
_LINE = re.compile(r"^@(\d+) (.*)$")
_RC = re.compile(r"^rc=(\d+)$")


@dataclass(frozen=True)
class TargetSpec:
    index: int
    kind: str
    host: str
    port: int
    timeout: int

    def render(self) -> str:
        return f"{self.index}|{self.kind}|{self.host}|{self.port}|{self.timeout}"


@dataclass
class ProbeOutcome:
    result: str
    rc: int | None
    output: str


def build_command(specs: list[TargetSpec]) -> list[str]:
    """The exec argv that probes every target of one source pod."""
    return ["sh", "-c", PROBE_SCRIPT, PROBE_ARGV0, *(spec.render() for spec in specs)]


def classify(rc: int | None, output: str) -> str:
    """Turn one tool run into a result; anything unrecognised is a probe_error, never blocked."""
    if rc == 0:
        return "allowed"
    if rc is None:
        return "probe_error"
    if _DNS.search(output):
        return "dns_error"
    if _REFUSED.search(output):
        return "refused"
    if _BLOCKED.search(output):
        return "blocked"
    return "probe_error"


def parse_output(stdout: str, count: int) -> dict[int, ProbeOutcome]:
    """Split the script's output per target index; a target without an rc line is a probe_error."""
    lines: dict[int, list[str]] = {i: [] for i in range(count)}
    codes: dict[int, int] = {}
    for raw in stdout.splitlines():
        match = _LINE.match(raw)
        if not match or int(match.group(1)) not in lines:
            continue
        index, text = int(match.group(1)), match.group(2)
        rc = _RC.match(text)
        if rc:
            codes[index] = int(rc.group(1))
        elif text:
            lines[index].append(text)
    outcomes = {}
    for index in range(count):
        output = "\n".join(lines[index])
        rc = codes.get(index)
        outcomes[index] = ProbeOutcome(classify(rc, output), rc, output)
    return outcomes
