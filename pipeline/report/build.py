"""OUT/report/report.json: the funnel, the kept documents' profile, shards and samples.

Merged from what the shard tasks returned (their partial funnels and profiles), never
recounted from the data. docs/report-schema.md documents every key; a change to the shape
bumps REPORT_SCHEMA_VERSION.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checksums import describe_file
from pipeline.histogram import SIGNALS
from pipeline.manifest import utc_now
from pipeline.output import RunOutput
from pipeline.profile import Profile
from pipeline.report.html import render_html
from pipeline.shard import ShardResult
from pipeline.stats import Funnel

if TYPE_CHECKING:
    from pipeline.phases.tokens import TokensResult

REPORT_SCHEMA_VERSION = 2


def write_report(output: RunOutput, report: dict[str, Any]) -> None:
    """OUT/report/report.json and its self-contained page, OUT/report/report.html."""
    output.write_json(report, "report", "report.json")
    with output.atomic("report", "report.html") as handle:
        handle.write(render_html(report).encode(errors="backslashreplace"))


def build_report(
    name: str,
    results: list[ShardResult],
    elapsed_s: float,
    output: RunOutput,
    phases: dict[str, dict[str, Any]] | None = None,
    tokens: TokensResult | None = None,
) -> dict[str, Any]:
    """The run's report; `phases` holds each global phase's summary (dedup: clusters, ...),
    `tokens` the mixture's funnel entry and the token manifest."""
    funnel, profile = Funnel(), Profile()
    for result in results:
        funnel.merge(result.funnel)
        profile.merge(result.profile)
    if tokens is not None:
        funnel.stage("mixture").merge(tokens.funnel)
    profiled = profile.to_json()
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "name": name,
        "created": utc_now().isoformat(),
        "elapsed_s": round(elapsed_s, 3),
        "documents": sum(r.documents for r in results),
        "text_bytes": sum(r.text_bytes for r in results),
        "funnel": funnel.to_json()["stages"],
        "conservation_problems": funnel.problems(),
        "sources": profiled["sources"],
        "languages": profiled["languages"],
        "domains": funnel.domains.report(),
        "histograms": _described(profiled["histograms"]),
        "removed_samples": funnel.samples,
        "kept_samples": profiled["samples"],
        "phases": phases or {},
        "shards": [_shard(result, output) for result in results],
        "tokens": tokens_section(tokens.manifest, output) if tokens else None,
    }


def tokens_section(manifest: dict[str, Any], output: RunOutput) -> dict[str, Any]:
    """The token shards, and the requested vs realised mixture per source."""
    return {
        **{split: manifest[split] for split in ("train", "val")},
        "tokenizer_sha256": manifest["tokenizer"]["sha256"],
        "mixture": manifest["mixture"],
        "shard_files": [
            {**shard, "size": output.fs.info(output.path("tokens", shard["path"]))["size"]}
            for shard in manifest["shards"]
        ],
    }


def _described(histograms: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The histograms in SIGNALS order, each with what it measures and how to draw it."""
    return {
        signal.name: {
            "description": signal.description,
            "scale": signal.scale,
            **histograms[signal.name],
        }
        for signal in SIGNALS
        if signal.name in histograms
    }


def _shard(result: ShardResult, output: RunOutput) -> dict[str, Any]:
    return {
        "shard": result.shard,
        "input": next(iter(result.inputs)),
        "input_files": len(result.inputs),
        "documents": result.documents,
        "text_bytes": result.text_bytes,
        "file": describe_file(output.url_of("documents", f"{result.shard}.parquet")),
        "funnel": [
            {"stage": name, "docs_in": stats.docs_in, "kept": stats.kept}
            for name, stats in result.funnel.stages.items()
        ],
    }
