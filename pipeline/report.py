"""The run report: OUT/report/report.json, and the funnel table `tokenmill report` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from pipeline.shard import ShardResult
from pipeline.stats import Funnel

if TYPE_CHECKING:
    from mixing.tokens import TokensResult

REPORT_SCHEMA_VERSION = 1


def build_report(
    name: str,
    results: list[ShardResult],
    elapsed_s: float,
    phases: dict[str, dict[str, Any]] | None = None,
    tokens: TokensResult | None = None,
) -> dict[str, Any]:
    """The run's report; `phases` holds each global phase's summary (dedup: clusters, ...),
    `tokens` the mixture's funnel entry and the token shards in brief."""
    funnel = Funnel()
    for result in results:
        funnel.merge(result.funnel)
    if tokens is not None:
        funnel.stage("mixture").merge(tokens.funnel)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "name": name,
        "elapsed_s": round(elapsed_s, 3),
        "documents": sum(r.documents for r in results),
        "text_bytes": sum(r.text_bytes for r in results),
        "funnel": funnel.to_json()["stages"],
        "conservation_problems": funnel.problems(),
        "samples": funnel.samples,
        "phases": phases or {},
        "shards": [
            {
                "shard": r.shard,
                "input": r.input,
                "documents": r.documents,
                "text_bytes": r.text_bytes,
                "funnel": r.funnel.to_json()["stages"],
            }
            for r in results
        ],
        "tokens": tokens_section(tokens.manifest) if tokens else None,
    }


def tokens_section(manifest: dict[str, Any]) -> dict[str, Any]:
    """The token shards in brief, and the requested vs realised mixture per source."""
    return {
        split: {
            "rows": manifest[split]["rows"],
            "tokens": manifest[split]["tokens"],
            "shards": manifest[split]["shards"],
            "tokens_by_source": manifest[split]["tokens_by_source"],
        }
        for split in ("train", "val")
    } | {"tokenizer_sha256": manifest["tokenizer"]["sha256"], "mixture": manifest["mixture"]}


def print_funnel(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"{report['name']}: {report['documents']:,} documents kept")
    for column in ("stage", "in", "kept", "removed", "errored", "MB in", "MB kept", "s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for entry in report["funnel"]:
        table.add_row(
            entry["stage"],
            f"{entry['docs_in']:,}",
            f"{entry['kept']:,}",
            _reasons(entry["removed"]),
            _reasons(entry["errored"]),
            f"{entry['bytes_in'] / 1e6:.2f}",
            f"{entry['bytes_kept'] / 1e6:.2f}",
            f"{entry['elapsed_s']:.1f}",
        )
    console.print(table)
    for problem in report.get("conservation_problems", []):
        console.print(f"[red]counts not conserved: {problem}[/red]")


def _reasons(counts: dict[str, int]) -> str:
    if not counts:
        return "0"
    total = sum(counts.values())
    detail = ", ".join(
        f"{reason} {n:,}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"{total:,} ({detail})"
