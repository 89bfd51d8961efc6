"""`tokenmill report A --compare B`: what changed between two runs.

The config keys that differ (from each run's manifest), the report's numbers that changed
(rows matched by name: stage, stage and reason, source, language, signal; a row present in
one run only counts as 0, or no value, in the other), and the documents whose fate changed
(`pipeline.report.fates`). As a terminal table, JSON or an HTML page
(`pipeline.report.compare_html`).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.output import RunOutput
from pipeline.report.fates import changed_fates
from pipeline.report.svg import number


def compare_runs(a: RunOutput, b: RunOutput) -> dict[str, Any]:
    """Everything `--compare` shows: `runs`, `config` changes, changed `rows` (and how many
    did not change), and `fates`."""
    reports = [run.read_json("report", "report.json") for run in (a, b)]
    manifests = [run.read_json("manifest.json") for run in (a, b)]
    rows = compare_reports(*reports)
    changed = [row for row in rows if row["a"] != row["b"]]
    return {
        "runs": {"a": a.url, "b": b.url},
        "config": config_changes(*(manifest.get("config", {}) for manifest in manifests)),
        "rows": changed,
        "unchanged_rows": len(rows) - len(changed),
        "fates": changed_fates(a, b, manifests),
    }


def config_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """The keys (as `--set` writes them) whose values differ; None where a run lacks one."""
    flat_a, flat_b = dict(_flatten(a)), dict(_flatten(b))
    return [
        {"key": key, "a": flat_a.get(key), "b": flat_b.get(key)}
        for key in _union(flat_a, flat_b)
        if flat_a.get(key) != flat_b.get(key)
    ]


def _flatten(value: Any, prefix: str = ""):
    """(dotted key, value) pairs; stages by name (`stages.quality.c4.min_num_sentences`)
    after their order (`stages`), other lists of mappings by index (`inputs[0].paths`)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif prefix == "stages" and isinstance(value, list):
        yield "stages", [next(iter(entry)) for entry in value]
        for entry in value:
            [(name, params)] = entry.items()
            yield from _flatten(params or {}, f"stages.{name}")
    elif isinstance(value, list) and any(isinstance(inner, dict) for inner in value):
        for index, inner in enumerate(value):
            yield from _flatten(inner, f"{prefix}[{index}]")
    else:
        yield prefix, value


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


def print_comparison(comparison: dict[str, Any], console: Console) -> None:
    runs = comparison["runs"]
    console.print(f"A: {runs['a']}\nB: {runs['b']}", highlight=False, soft_wrap=True)
    if comparison["config"]:
        config = Table(title="config keys that differ")
        for column in ("key", "A", "B"):
            config.add_column(column, overflow="fold")
        for change in comparison["config"]:
            config.add_row(change["key"], _setting(change["a"]), _setting(change["b"]))
        console.print(config)
    else:
        console.print("config: the same")
    table = Table(
        title="what changed (B against A)",
        caption=f"{comparison['unchanged_rows']:,} unchanged rows not shown",
    )
    for column in ("what", "name", "A", "B", "B − A", "change"):
        left = column in ("what", "name")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    for row in comparison["rows"]:
        table.add_row(
            row["section"],
            row["name"],
            shown(row["a"]),
            shown(row["b"]),
            shown(row["delta"], signed=True),
            "–" if row["relative"] is None else f"{100 * row['relative']:+.1f}%",
        )
    console.print(table)
    _print_fates(comparison["fates"], console)


def _print_fates(fates: dict[str, Any], console: Console) -> None:
    if "unmatched" in fates:
        console.print(f"documents: {fates['unmatched']}", highlight=False, soft_wrap=True)
        return
    for run in ("a", "b"):
        entry = fates[f"kept_only_in_{run}"]
        console.print(
            f"documents kept only in {run.upper()}: {entry['documents']:,}"
            + (f" (a sample of {len(entry['samples'])})" if entry["samples"] else ""),
            highlight=False,
        )
        for sample in entry["samples"]:
            other = "b" if run == "a" else "a"
            console.print(
                f"  {sample['url'] or sample['id']}: {other.upper()} {sample[other]}",
                highlight=False,
                soft_wrap=True,
            )


def _setting(value: Any) -> str:
    return "–" if value is None else str(value)


def _row(section: str, name: str, a: float | None, b: float | None) -> dict[str, Any]:
    delta = None if a is None or b is None else b - a
    relative = delta / a if delta is not None and a else None
    return {"section": section, "name": name, "a": a, "b": b, "delta": delta, "relative": relative}


def _by_stage(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["stage"]: entry for entry in report["funnel"]}


def _union(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [*a, *(key for key in b if key not in a)]


def shown(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:+,}" if signed else f"{value:,}"
    shown = number(abs(value) if signed else value)
    return f"{'+' if value >= 0 else '−'}{shown}" if signed else shown
