"""`tokenmill report A --compare B`: what changed between two runs' reports.

Rows are matched by name (stage, stage and reason, source, language, signal); a row
present in one run only counts as 0 (or no value) in the other.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.report.svg import number


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per compared quantity: `section`, `name`, `a`, `b`."""
    rows = [
        _row("run", "documents kept", a["documents"], b["documents"]),
        _row("run", "text bytes kept", a["text_bytes"], b["text_bytes"]),
    ]
    stages_a, stages_b = _by_stage(a), _by_stage(b)
    for stage in _union(stages_a, stages_b):
        one, two = stages_a.get(stage, {}), stages_b.get(stage, {})
        rows.append(_row("stage in", stage, one.get("docs_in", 0), two.get("docs_in", 0)))
        rows.append(_row("stage kept", stage, one.get("kept", 0), two.get("kept", 0)))
        for kind in ("removed", "errored"):
            reasons_a, reasons_b = one.get(kind, {}), two.get(kind, {})
            for reason in _union(reasons_a, reasons_b):
                name = f"{stage}: {reason}"
                rows.append(_row(kind, name, reasons_a.get(reason, 0), reasons_b.get(reason, 0)))
    for key in ("sources", "languages"):
        counts_a = {r["name"]: r["documents"] for r in a.get(key, [])}
        counts_b = {r["name"]: r["documents"] for r in b.get(key, [])}
        for name in _union(counts_a, counts_b):
            rows.append(_row(key[:-1], name, counts_a.get(name, 0), counts_b.get(name, 0)))
    hist_a, hist_b = a.get("histograms", {}), b.get("histograms", {})
    for name in _union(hist_a, hist_b):
        mean_a = hist_a.get(name, {}).get("mean")
        mean_b = hist_b.get(name, {}).get("mean")
        rows.append(_row("mean", name, mean_a, mean_b))
    return rows


def print_comparison(
    a: dict[str, Any], b: dict[str, Any], names: tuple[str, str], console: Console
) -> None:
    table = Table(title=f"{names[0]} (A) against {names[1]} (B)")
    for column in ("what", "name", "A", "B", "B − A", "change"):
        table.add_column(column, justify="left" if column in ("what", "name") else "right")
    for row in compare_reports(a, b):
        style = "" if row["a"] == row["b"] else "bold"
        table.add_row(
            row["section"],
            row["name"],
            _shown(row["a"]),
            _shown(row["b"]),
            _shown(row["delta"], signed=True),
            "–" if row["relative"] is None else f"{100 * row['relative']:+.1f}%",
            style=style,
        )
    console.print(table)


def _row(section: str, name: str, a: float | None, b: float | None) -> dict[str, Any]:
    delta = None if a is None or b is None else b - a
    relative = delta / a if delta is not None and a else None
    return {"section": section, "name": name, "a": a, "b": b, "delta": delta, "relative": relative}


def _by_stage(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["stage"]: entry for entry in report["funnel"]}


def _union(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [*a, *(key for key in b if key not in a)]


def _shown(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:+,}" if signed else f"{value:,}"
    shown = number(abs(value) if signed else value)
    return f"{'+' if value >= 0 else '−'}{shown}" if signed else shown
