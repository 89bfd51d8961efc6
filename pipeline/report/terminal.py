"""`tokenmill report OUT`: the report as rich tables in a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.console import labelled
from pipeline.histogram import Histogram
from pipeline.report.mixture_misses import mixture_misses
from pipeline.report.svg import number


def print_funnel(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"{report['name']}: {report['documents']:,} documents kept")
    columns = ("stage", "in", "kept", "removed", "errored", "MB in", "MB kept", "start-up s", "s")
    for column in columns:
        table.add_column(column, justify="left" if column == "stage" else "right")
    for entry in report["funnel"]:
        counts_bytes = entry["bytes_in"] or not entry["docs_in"]
        table.add_row(
            entry["stage"],
            f"{entry['docs_in']:,}",
            f"{entry['kept']:,}",
            f"{sum(entry['removed'].values()):,}",
            f"{sum(entry['errored'].values()):,}",
            f"{entry['bytes_in'] / 1e6:.2f}" if counts_bytes else "–",
            f"{entry['bytes_kept'] / 1e6:.2f}" if counts_bytes else "–",
            f"{entry.get('startup_s', 0):.1f}",
            f"{entry['elapsed_s']:.1f}",
        )
    console.print(table)
    _print_reasons(report, console)
    for name, phase in report.get("phases", {}).items():
        console.print(f"phase {name}: {phase.get('elapsed_s', 0):.1f} s{_clusters(phase)}")
    for problem in report.get("conservation_problems", []):
        console.print(f"counts not conserved: {problem}", style="red")


def print_summary(report: dict[str, Any], console: Console) -> None:
    """The funnel, then sources, languages, signal distributions, counters and tokens."""
    print_funnel(report, console)
    for title, key in (("sources", "sources"), ("languages", "languages")):
        rows = report.get(key) or []
        if rows:
            table = Table(title=f"kept documents by {title[:-1]}")
            for column in (title[:-1], "documents", "MB"):
                table.add_column(column, justify="left" if column == title[:-1] else "right")
            for row in rows[:15]:
                table.add_row(row["name"], f"{row['documents']:,}", f"{row['bytes'] / 1e6:.2f}")
            if len(rows) > 15:
                table.add_row(f"… {len(rows) - 15} more", "", "")
            console.print(table)
    _print_histograms(report, console)
    _print_counters(report, console)
    tokens = report.get("tokens")
    if tokens:
        table = Table(title=f"mixture: {tokens['train']['tokens']:,} training tokens")
        for column in ("source", "requested", "realised", "tokens", "epochs", "val tokens"):
            table.add_column(column, justify="left" if column == "source" else "right")
        for row in tokens["mixture"]:
            table.add_row(
                row["source"],
                f"{100 * row['requested_share']:.1f}%",
                f"{100 * row['realised_share']:.1f}%",
                f"{row['tokens']:,}",
                f"{row['realised_epochs']:.2f}",
                f"{row['val_tokens']:,}",
            )
        console.print(table)
        print_mixture_misses(tokens, console)


def print_mixture_misses(tokens: dict[str, Any], console: Console) -> None:
    for miss in mixture_misses(tokens):
        console.print(labelled("note", miss, "yellow"), highlight=False, soft_wrap=True)


def _print_histograms(report: dict[str, Any], console: Console) -> None:
    histograms = report.get("histograms") or {}
    if not histograms:
        return
    table = Table(title="signals of the kept documents (quantiles from fixed bins)")
    table.add_column("signal", no_wrap=True)
    for column in ("values", "min", "p10", "median", "p90", "max"):
        table.add_column(column, justify="right")
    for name, data in histograms.items():
        histogram = Histogram.from_json(data)
        discrete = data["scale"] == "count"
        quantiles = [histogram.quantile(q, discrete) for q in (0.1, 0.5, 0.9)]
        missing = f" +{data['missing']:,} null" if data["missing"] else ""
        table.add_row(
            name,
            f"{data['count']:,}{missing}",
            *(_number(v) for v in (data["min"], *quantiles, data["max"])),
        )
    console.print(table)


def _print_counters(report: dict[str, Any], console: Console) -> None:
    for entry in report["funnel"]:
        counters = entry.get("counters") or {}
        if counters:
            table = Table(title=f"{entry['stage']}: counted")
            table.add_column("counter")
            table.add_column("count", justify="right")
            for key, count in sorted(counters.items(), key=lambda kv: -kv[1]):
                table.add_row(key, f"{count:,}")
            console.print(table)


def _print_reasons(report: dict[str, Any], console: Console) -> None:
    table = Table(title="removed and errored, by reason")
    for column in ("stage", "reason", "kind", "documents", "MB"):
        justify = "right" if column in ("documents", "MB") else "left"
        table.add_column(column, justify=justify, overflow="fold")  # a reason is never cut
    for entry in report["funnel"]:
        for kind in ("removed", "errored"):
            for reason, count in sorted(entry[kind].items(), key=lambda kv: -kv[1]):
                megabytes = entry.get("bytes_dropped", {}).get(reason)
                shown = "–" if megabytes is None else f"{megabytes / 1e6:.2f}"
                table.add_row(entry["stage"], reason, kind, f"{count:,}", shown)
    if table.row_count:
        console.print(table)


def _number(value: float | None) -> str:
    return "–" if value is None else number(value)


def _clusters(phase: dict[str, Any]) -> str:
    if "cluster_sizes" not in phase:
        return ""
    sizes = ", ".join(f"{n:,}×{size}" for size, n in phase["cluster_sizes"].items())
    return f", {phase['clusters']:,} clusters of {phase['documents_in_clusters']:,} documents" + (
        f" (size: {sizes})" if sizes else ""
    )
