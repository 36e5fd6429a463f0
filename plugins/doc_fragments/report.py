# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report options of reachability_info and probe_connectivity (argument spec: _report.REPORT_ARG_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  report_path:
    description:
      - Write the results to files, one per format of O(report_format), at this path (on the host the module runs
        on, usually the controller), B(without) a suffix - each format adds its own - V(json) C(.json), V(junit)
        C(.junit.xml), V(markdown) C(.md), V(html) C(.html), V(dot) C(.dot). For example V(reports/label) with
        O(report_format=[json, html]) writes C(reports/label.json) and C(reports/label.html).
      - A path that already ends in one format's suffix (V(reports/label.html)) names that format's file; the other
        formats' files are written next to it (C(reports/label.json)). That format must then be in O(report_format).
      - The directory must exist. Each file is written atomically (a temporary file in the same directory, renamed
        over the old one), and only when its content changed; a new file gets mode C(0644), an existing file keeps
        its mode. Reports hold no time stamp or duration, so the same results write the same bytes.
      - In check mode nothing is written; RV(reports[].changed) says whether a file would change.
      - The report files are the only thing the module changes; C(changed) is V(true) when one of them changed.
      - A failed run that has results (probes that differ from the expectation, a probe that could not run) still
        writes its reports before it fails.
    type: path
  report_format:
    description:
      - The formats to write to O(report_path), one file each.
      - V(json) - the results in a stable, documented schema (C(netpol.aks/report/v1), see the collection's
        C(docs/reports.md)) - cells with their observed and expected results and explanations, endpoints, classes
        and the graph's edges.
      - V(junit) - JUnit XML, as CI systems read it - one test case per cell named
        C(<source> -> <target>:<port>/<protocol>), a C(failure) where the observed result differs from the expected
        one (the probe's output as its text), an C(error) for a probe that could not run with nothing expected, and
        C(skipped) for a probe not run in check mode.
      - V(markdown) - the matrices as tables, and the differences.
      - V(html) - one self-contained page that loads nothing from the network - the observed, expected and difference
        matrices coloured by result, each cell's explanation on hover, focus or click, and a graph of who can reach
        whom (namespaces as boxes, allowed edges drawn, blocked-but-expected edges dashed). Up to 40 endpoints are
        drawn one by one; beyond that, classes of endpoints with the same results.
      - V(dot) - the same graph in Graphviz's DOT language (C(dot -Tsvg report.dot)).
      - Default is the format named by the suffix of O(report_path), else V(json).
    type: list
    elements: str
    choices: [json, junit, markdown, html, dot]
notes:
  - With O(report_path), the module writes files on the host it runs on (the controller, for this collection's
    modules), so C(changed) can be V(true) - only because of them.
"""
