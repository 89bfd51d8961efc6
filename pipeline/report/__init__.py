"""The run report: report.json (`build`), the HTML page (`html`, `svg`), the terminal
summary (`terminal`) and the comparison of two runs (`compare`)."""

from __future__ import annotations

from typing import Any

from pipeline.output import RunOutput


def write_report(output: RunOutput, report: dict[str, Any]) -> None:
    """OUT/report/report.json and its self-contained page, OUT/report/report.html."""
    from pipeline.report.html import render_html

    output.write_json(report, "report", "report.json")
    with output.atomic("report", "report.html") as handle:
        handle.write(render_html(report).encode())
