# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The commands an exec can run inside a simulated container, printing what busybox prints.

`sh -c PROBE_SCRIPT netpol-probe spec...` (the probe module's wire contract, matched byte for byte)
probes every spec concurrently. Besides it: wget, nc, sh -c "<simple commands>", cat, hostname,
sleep, echo, true, false, env. Anything else is `sh: <cmd>: not found`, exit 127.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import shlex
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# PROBE_SCRIPT is the wire contract with probe_connectivity: emulated when a command matches it byte for byte.
from ansible_collections.netpol.aks.plugins.module_utils._probe import PROBE_SCRIPT
from tests.fakes.kube import images
from tests.fakes.kube.dataplane import CONNECT_TIMEOUT
from tests.fakes.kube.dataplane import DNS_TIMEOUT

if TYPE_CHECKING:
    from tests.fakes.kube.server import Context

NGINX_PAGE = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
NGINX_404 = """<html>
<head><title>404 Not Found</title></head>
<body>
<center><h1>404 Not Found</h1></center>
<hr><center>nginx/1.29.3</center>
</body>
</html>
"""


@dataclass
class Output:
    """Where a command writes: callbacks for stdout and stderr (or buffers when captured)."""

    stdout: Callable[[str], Awaitable[None]]
    stderr: Callable[[str], Awaitable[None]]
    stdin: asyncio.Queue | None = None


@dataclass
class Buffer:
    parts: list[str] = field(default_factory=list)

    async def write(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


class Shell:
    """Runs commands in one container of one pod."""

    def __init__(self, ctx: Context, pod: dict, container: dict) -> None:
        self.ctx = ctx
        self.pod = pod
        self.container = container
        self.image = images.lookup(container.get("image", ""))
        self.busybox = self.image is None or self.image.shell == "busybox"

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    def _has(self, tool: str) -> bool:
        return self.image is not None and tool in self.image.tools

    def not_found(self, name: str) -> str:
        return f"sh: {name}: not found\n" if self.busybox else f"sh: 1: {name}: not found\n"

    async def run(self, argv: list[str], out: Output) -> int:
        if not argv:
            return 0
        name = argv[0].rsplit("/", 1)[-1]
        if name in ("sh", "ash") and self._has(name):
            return await self.sh(argv[1:], out)
        if not self._has(name):
            await out.stderr(self.not_found(argv[0]))
            return 127
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            await out.stderr(self.not_found(argv[0]))
            return 127
        return await handler(argv[1:], out)

    # -- sh -----------------------------------------------------------------------------------

    async def sh(self, args: list[str], out: Output) -> int:
        if not args or args[0] != "-c":
            if args and not args[0].startswith("-"):
                await out.stderr(f"sh: can't open '{args[0]}': No such file or directory\n")
                return 2
            return 0  # an interactive shell with no stdin ends at once
        if len(args) < 2:
            await out.stderr("sh: -c requires an argument\n")
            return 2
        script, positional = args[1], args[2:]
        if script == PROBE_SCRIPT:
            return await self.probe(positional[1:], out)
        return await self.script(script, out)

    async def script(self, script: str, out: Output) -> int:
        """A list of simple commands joined by ;, && or || (with >/dev/null and 2>&1 redirections)."""
        try:
            lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|<>")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            await out.stderr("sh: syntax error: unterminated quoted string\n")
            return 2
        commands: list[tuple[str, list[str]]] = []
        current: list[str] = []
        joiner = ";"
        for token in tokens:
            if token in (";", "&&", "||"):
                commands.append((joiner, current))
                current, joiner = [], token
            elif token in ("|", "&", "<") or (set(token) <= set(";&|<>") and token not in (">", ">&", "2>&")):
                await out.stderr(f"sh: the netpol lab double does not emulate '{token}' in a shell script\n")
                return 2
            else:
                current.append(token)
        commands.append((joiner, current))
        rc = 0
        for joiner, words in commands:
            if (joiner == "&&" and rc != 0) or (joiner == "||" and rc == 0):
                continue
            rc = await self._simple(words, out)
        return rc

    async def _simple(self, words: list[str], out: Output) -> int:
        argv: list[str] = []
        stdout, stderr = out.stdout, out.stderr
        devnull = Buffer()
        i = 0
        while i < len(words):
            word = words[i]
            if word in (">", "1>") or (word == "2" and i + 1 < len(words) and words[i + 1] == ">"):
                if word == "2":
                    i += 1
                target = words[i + 1] if i + 1 < len(words) else ""
                if target == "&" and i + 2 < len(words):  # 2>&1 splits as 2 > & 1
                    if words[i + 2] == "1":
                        stderr = stdout
                    i += 3
                    continue
                if target != "/dev/null":
                    await out.stderr(f"sh: can't create {target}: Read-only file system\n")
                    return 1
                if word == "2":
                    stderr = devnull.write
                else:
                    stdout = devnull.write
                i += 2
                continue
            if word == "2>&" or word == ">&":
                i += 2
                stderr = stdout if word == "2>&" else stderr
                continue
            argv.append(word)
            i += 1
        return await self.run(argv, Output(stdout, stderr, out.stdin))

    # -- the probe script (plugins/module_utils/_probe.py) ------------------------------------

    async def probe(self, specs: list[str], out: Output) -> int:
        async def one(spec: str) -> None:
            fields = [f for f in spec.split("|") if f != ""]
            fields += [""] * (5 - len(fields))
            index, kind, host, port, timeout = fields[:5]
            buf = Buffer()
            both = Output(buf.write, buf.write)
            if kind == "http":
                rc = await self.run(["wget", "-q", "-O", "-", "-T", timeout, f"http://{host}:{port}/"], both)
            elif kind == "tcp":
                rc = await self.run(["nc", "-vv", "-z", "-w", timeout, host, port], both)
            else:
                await buf.write(f"netpol-probe: unknown probe kind '{kind}'")
                rc = 2
            text = buf.text().rstrip("\n")
            lines = "".join(f"@{index} {line}\n" for line in text.split("\n"))
            await out.stdout(lines + f"@{index} rc={rc}\n")

        await asyncio.gather(*(one(spec) for spec in specs))
        return 0

    # -- network tools ------------------------------------------------------------------------

    def _is_ip(self, host: str) -> bool:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True

    async def _connect(
        self,
        tool: str,
        host: str,
        port: int,
        timeout: float | None,
        out: Output,
        announce: str | None = None,
        udp: bool = False,
    ) -> tuple[str, object]:
        if not self._is_ip(host) and not self.ctx.dataplane.dns_allowed(self.pod):
            # Egress to the cluster DNS is blocked: the query times out and the name does not resolve.
            await asyncio.sleep(DNS_TIMEOUT)
            await out.stderr(f"{tool}: bad address '{host}'\n")
            return "dns", None
        ip = self.ctx.dataplane.resolve(host, self.namespace)
        if ip is None:
            await out.stderr(f"{tool}: bad address '{host}'\n")
            return "dns", None
        if announce is not None:
            await out.stderr(announce.format(ip=ip))
        if udp:
            return "ok", None  # UDP has no handshake: nc -u "connects" to anything
        conn = self.ctx.dataplane.connect(self.pod, ip, port, "TCP")
        if conn.outcome == "timeout":
            wait = CONNECT_TIMEOUT if timeout is None or timeout <= 0 else min(timeout, CONNECT_TIMEOUT)
            await asyncio.sleep(wait)
        if tool == "nc" or conn.outcome == "ok":
            return conn.outcome, conn  # busybox nc reports (or not) by its verbosity: cmd_nc
        if conn.outcome == "refused":
            await out.stderr(f"wget: can't connect to remote host ({ip}): Connection refused\n")
        elif timeout is None or timeout <= 0 or timeout > CONNECT_TIMEOUT:
            await out.stderr(f"wget: can't connect to remote host ({ip}): Connection timed out\n")
        else:
            await out.stderr("wget: download timed out\n")
        return conn.outcome, conn

    async def cmd_wget(self, args: list[str], out: Output) -> int:
        quiet = False
        output: str | None = None
        timeout: float | None = None
        spider = False
        agent = "Wget"
        urls: list[str] = []
        i = 0
        try:
            while i < len(args):
                arg = args[i]
                if arg.startswith("--"):
                    key, _unused, value = arg[2:].partition("=")
                    if key in ("timeout", "output-document", "user-agent") and not value:
                        i += 1
                        value = args[i]
                    if key == "timeout":
                        timeout = _number("wget", value)
                    elif key == "output-document":
                        output = value
                    elif key == "user-agent":
                        agent = value
                    elif key == "quiet":
                        quiet = True
                    elif key == "spider":
                        spider = True
                    elif key in ("no-check-certificate", "server-response", "no-verbose"):
                        pass
                    else:
                        await out.stderr(f"wget: unrecognized option '{arg}'\n")
                        return 1
                elif arg.startswith("-") and len(arg) > 1:
                    j = 1
                    while j < len(arg):
                        flag = arg[j]
                        if flag in "OTUY":
                            value = arg[j + 1 :]
                            if not value:
                                i += 1
                                value = args[i]
                            if flag == "O":
                                output = value
                            elif flag == "T":
                                timeout = _number("wget", value)
                            elif flag == "U":
                                agent = value
                            break
                        if flag == "q":
                            quiet = True
                        elif flag in "cSs":
                            spider = spider or flag == "s"
                        else:
                            await out.stderr(f"wget: invalid option -- '{flag}'\n")
                            return 1
                        j += 1
                else:
                    urls.append(arg)
                i += 1
        except IndexError:
            await out.stderr("wget: option requires an argument\n")
            return 1
        except _BadNumber as exc:
            await out.stderr(str(exc))
            return 1
        if not urls:
            await out.stderr(
                "BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.\n\n"
                "Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n"
                "\t[--post-data STR | --post-file FILE] [-Y on/off]\n\t[-P DIR] [-U AGENT] [-T SEC] URL...\n"
            )
            return 1
        rc = 0
        for url in urls:
            rc = await self._wget_one(url, quiet, output, timeout, spider, agent, out) or rc
        return rc

    async def _wget_one(
        self, url: str, quiet: bool, output: str | None, timeout: float | None, spider: bool, agent: str, out: Output
    ) -> int:
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            await out.stderr(f"wget: not an http or ftp url: {url}\n")
            return 1
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            await out.stderr(f"wget: bad port spec '{parts.netloc}'\n")
            return 1
        host = parts.hostname
        path = parts.path or "/"
        announce = None if quiet else f"Connecting to {parts.netloc} ({{ip}}:{port})\n"
        outcome, conn = await self._connect("wget", host, port, timeout, out, announce)
        if outcome != "ok":
            return 1
        if parts.scheme == "https":
            await out.stderr("wget: error getting response: Connection reset by peer\n")
            return 1
        found = path in ("/", "/index.html")
        body = NGINX_PAGE if found else NGINX_404
        client_ip = (self.pod.get("status") or {}).get("podIP", "")
        self.ctx.dataplane.log_access(
            conn.pod, conn.container["name"], client_ip, path, 200 if found else 404, len(body), agent
        )
        if not found:
            await out.stderr("wget: server returned error: HTTP/1.1 404 Not Found\n")
            return 1
        if spider:
            if not quiet:
                await out.stderr("remote file exists\n")
            return 0
        name = output if output is not None else (path.rsplit("/", 1)[-1] or "index.html")
        if name == "-":
            if not quiet:
                await out.stderr("writing to stdout\n")
            await out.stdout(body)
            if not quiet:
                await out.stderr(
                    f"-                    100% |********************************|   {len(body)}  0:00:00 ETA\nwritten to stdout\n"
                )
            return 0
        if name != "/dev/null" and (self.container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
            await out.stderr(f"wget: can't open '{name}': Read-only file system\n")
            return 1
        if not quiet:
            await out.stderr(
                f"saving to '{name}'\n{name}           100% |********************************|   {len(body)}  0:00:00 ETA\n'{name}' saved\n"
            )
        return 0

    async def cmd_nc(self, args: list[str], out: Output) -> int:
        verbosity = 0
        udp = False
        timeout: float | None = None
        rest: list[str] = []
        i = 0
        try:
            while i < len(args):
                arg = args[i]
                if arg.startswith("-") and len(arg) > 1:
                    j = 1
                    while j < len(arg):
                        flag = arg[j]
                        if flag == "w":
                            value = arg[j + 1 :]
                            if not value:
                                i += 1
                                value = args[i]
                            timeout = _number("nc", value)
                            break
                        if flag == "v":
                            verbosity += 1
                        elif flag == "u":
                            udp = True
                        elif flag in "nz":  # -z: connect and close, which is all this emulation does
                            pass
                        else:
                            await out.stderr(f"nc: invalid option -- '{flag}'\n")
                            return 1
                        j += 1
                else:
                    rest.append(arg)
                i += 1
        except IndexError:
            await out.stderr("nc: option requires an argument -- 'w'\n")
            return 1
        except _BadNumber as exc:
            await out.stderr(str(exc))
            return 1
        if len(rest) != 2:
            await out.stderr(
                "BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.\n\n"
                "Usage: nc [OPTIONS] HOST PORT  - connect\nnc [OPTIONS] -l -p PORT [HOST] [PORT]  - listen\n"
            )
            return 1
        host, port_text = rest
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            await out.stderr(f"nc: bad port '{port_text}'\n")
            return 1
        outcome, _unused = await self._connect("nc", host, int(port_text), timeout, out, udp=udp)
        if outcome == "dns":
            return 1
        # As busybox 1.36/1.37's nc (nc_bloaty): -v reports an open port and a timeout, only -vv a
        # refusal, and -vv adds the byte counts.
        where = f"{host} ({self.ctx.dataplane.resolve(host, self.namespace)}:{port_text})"
        message = {"ok": f"{where} open", "timeout": f"nc: {where}: Connection timed out"}.get(outcome)
        if outcome == "refused":
            message = f"nc: {where}: Connection refused" if verbosity >= 2 else None
        if message and verbosity >= 1:
            await out.stderr(message + "\n")
        if verbosity >= 2:
            await out.stderr("sent 0, rcvd 0\n")
        return 0 if outcome == "ok" else 1

    # -- everyday commands --------------------------------------------------------------------

    async def cmd_hostname(self, args: list[str], out: Output) -> int:
        await out.stdout(self.pod["metadata"]["name"] + "\n")
        return 0

    async def cmd_echo(self, args: list[str], out: Output) -> int:
        if args and args[0] == "-n":
            await out.stdout(" ".join(args[1:]))
        else:
            await out.stdout(" ".join(args) + "\n")
        return 0

    async def cmd_true(self, args: list[str], out: Output) -> int:
        return 0

    async def cmd_false(self, args: list[str], out: Output) -> int:
        return 1

    async def cmd_env(self, args: list[str], out: Output) -> int:
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": self.pod["metadata"]["name"],
            "HOME": "/root",
        }
        for item in self.container.get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
        await out.stdout("".join(f"{k}={v}\n" for k, v in env.items()))
        return 0

    async def cmd_sleep(self, args: list[str], out: Output) -> int:
        if not args:
            await out.stderr("BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.\n\nUsage: sleep [N]...\n")
            return 1
        total = 0.0
        for arg in args:
            if arg == "infinity":
                total = float("inf")
                continue
            match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", arg)
            if not match:
                await out.stderr(f"sleep: invalid number '{arg}'\n")
                return 1
            total += float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        await asyncio.sleep(min(total, 24 * 3600))
        return 0

    def _files(self) -> dict[str, str]:
        ns = self.namespace
        ip = (self.pod.get("status") or {}).get("podIP", "")
        name = self.pod["metadata"]["name"]
        return {
            "/etc/hostname": f"{name}\n",
            "/etc/resolv.conf": f"search {ns}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n",
            "/etc/hosts": f"# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{name}\n",
        }

    async def cmd_cat(self, args: list[str], out: Output) -> int:
        files = [a for a in args if a != "-"]
        if not files:
            if out.stdin is not None:
                while True:
                    chunk = await out.stdin.get()
                    if chunk is None:
                        break
                    await out.stdout(chunk)
            return 0
        rc = 0
        known = self._files()
        for name in files:
            if name in known:
                await out.stdout(known[name])
            else:
                await out.stderr(f"cat: can't open '{name}': No such file or directory\n")
                rc = 1
        return rc

    async def cmd_ls(self, args: list[str], out: Output) -> int:
        await out.stdout("bin\ndev\netc\nhome\nlib\nproc\nroot\nsys\ntmp\nusr\nvar\n")
        return 0


class _BadNumber(Exception):
    pass


def _number(tool: str, value: str) -> float:
    with contextlib.suppress(ValueError):
        number = float(value)
        if number >= 0 and re.fullmatch(r"\d+(\.\d+)?", value):
            return number
    raise _BadNumber(f"{tool}: invalid number '{value}'\n")
