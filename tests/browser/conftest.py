# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real browser for the report tests: Debian's chromium, driven by Playwright for Python over the
DevTools protocol (Playwright's own browser downloads are never used).

- NETPOL_CHROMIUM: the browser to run (default /usr/bin/chromium; scripts/install-browser.sh installs it).
- NETPOL_ARTEFACT_DIR: where the screenshots are kept (default tests/output/browser/, which git ignores).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _report

ROOT = Path(__file__).resolve().parents[2]
# Chromium as this machine's closed network wants it: no background connections, no first-run work.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]


@pytest.fixture(scope="session")
def browser():
    executable = os.environ.get("NETPOL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(executable):
        pytest.fail(
            f"no chromium at {executable}: run scripts/install-browser.sh (make browser-deps; make test does) "
            "or set NETPOL_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artefacts():
    path = Path(os.environ.get("NETPOL_ARTEFACT_DIR") or ROOT / "tests" / "output" / "browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def open_report(browser, artefacts, tmp_path):
    """open_report(module, result, params, screenshot) -> (page, problems): the HTML report of that result,
    written to a file, opened in a fresh browser context, with a full-page screenshot kept as an artefact.
    `problems` lists console errors, page errors and any request for something other than the page itself."""
    contexts = []

    def open_(module, result, params, screenshot):
        report = _report.build_report(module, result, params)
        page_file = tmp_path / f"{Path(screenshot).stem}.html"
        page_file.write_bytes(_report.render_html(report))
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, java_script_enabled=True)
        contexts.append(context)
        page = context.new_page()
        problems = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        url = page_file.as_uri()
        page.on("request", lambda r: problems.append(f"request: {r.url}") if r.url != url else None)
        page.goto(url, wait_until="load")
        shot = artefacts / screenshot
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return page, problems

    yield open_
    for context in contexts:
        context.close()
