"""`tokenmill report A --compare B --html FILE`: a comparison as one self-contained page,
in the report page's style: the config keys that differ, the numbers that changed, and
samples of the documents whose fate changed."""

from __future__ import annotations

from html import escape
from typing import Any

from pipeline.report.compare import shown
from pipeline.report.html import document_html, page, table


def render_comparison_html(comparison: dict[str, Any]) -> str:
    runs = comparison["runs"]
    header = (
        "<h1>tokenmill comparison</h1>"
        f"<p><b>A</b> <code>{escape(runs['a'])}</code><br><b>B</b> <code>{escape(runs['b'])}</code></p>"
    )
    sections = [header, _config(comparison), _rows(comparison), _fates(comparison["fates"])]
    return page(f"tokenmill comparison: {runs['a']} and {runs['b']}", sections)


def _config(comparison: dict[str, Any]) -> str:
    changes = comparison["config"]
    if not changes:
        return "<h2>Config</h2><p>The same config.</p>"
    rows = [
        f'<tr><td class="l"><code>{escape(c["key"])}</code></td>'
        f'<td class="l">{_value(c["a"])}</td><td class="l">{_value(c["b"])}</td></tr>'
        for c in changes
    ]
    return "<h2>Config keys that differ</h2>" + table(["key", "A", "B"], rows, "config")


def _rows(comparison: dict[str, Any]) -> str:
    rows = []
    for row in comparison["rows"]:
        relative = "–" if row["relative"] is None else f"{100 * row['relative']:+.1f}%"
        rows.append(
            f'<tr><td class="l">{escape(row["section"])}</td><td class="l">{escape(row["name"])}'
            f"</td><td>{shown(row['a'])}</td><td>{shown(row['b'])}</td>"
            f"<td>{shown(row['delta'], signed=True)}</td><td>{relative}</td></tr>"
        )
    unchanged = comparison["unchanged_rows"]
    return (
        "<h2>What changed (B against A)</h2>"
        + table(["what", "name", "A", "B", "B − A", "change"], rows, "changes")
        + f'<p class="muted">{unchanged:,} unchanged rows not shown.</p>'
    )


def _fates(fates: dict[str, Any]) -> str:
    parts = ["<h2>Documents whose fate changed</h2>"]
    if "unmatched" in fates:
        return "".join([*parts, f"<p>{escape(fates['unmatched'])}</p>"])
    for run, other in (("a", "b"), ("b", "a")):
        entry = fates[f"kept_only_in_{run}"]
        documents = "".join(
            document_html(sample, [(run.upper(), sample[run]), (other.upper(), sample[other])])
            for sample in entry["samples"]
        )
        parts.append(
            f'<details open id="kept-only-in-{run}"><summary>Kept only in {run.upper()}: '
            f"{entry['documents']:,} <span>(a sample of {len(entry['samples'])})</span>"
            f"</summary>{documents}</details>"
        )
    return "".join(parts)


def _value(value: Any) -> str:
    return '<span class="muted">–</span>' if value is None else escape(str(value))
