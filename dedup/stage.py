"""The `dedup` stage: exact, URL and MinHash-LSH near-duplicate removal over the whole run.

Removes `exact_duplicate` (same normalised text as its cluster's survivor),
`url_duplicate` (same URL, with `url: true`) and `near_duplicate` (word n-gram Jaccard
above about `threshold`, found by MinHash LSH), keeping one survivor per cluster. Web
crawls repeat themselves (syndication, mirrors, templated pages) and a model trained on
the repeats memorises them. Survivors carry `dup_cluster` (the survivor's id; null for a
document without duplicates) and `dup_cluster_size` (1 for those).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dedup.params import DedupParams
from dedup.phase import DECISION_SCHEMA, SCRATCH, DedupSummary, run_dedup
from pipeline.output import RunOutput
from pipeline.phase import PhaseContext
from pipeline.stage import GlobalStage, Stage, Verdict

FIELDS = (pa.field("dup_cluster", pa.string()), pa.field("dup_cluster_size", pa.int32()))


class Dedup(GlobalStage):
    """Clusters duplicates across every shard and keeps one document of each cluster."""

    name = "dedup"
    Params = DedupParams
    fields = FIELDS

    Summary = DedupSummary

    def run(self, context: PhaseContext) -> DedupSummary:
        return run_dedup(self.params, context)

    def for_shard(self, output: RunOutput, shard: str) -> Stage:
        with output.fs.open(output.path(*SCRATCH, "decisions", f"{shard}.parquet"), "rb") as handle:
            return DedupDecisions(self.params, pq.read_table(handle, schema=DECISION_SCHEMA))


class DedupDecisions(Stage):
    """Applies the dedup phase's decisions to one shard's documents, matched by id."""

    name = "dedup"
    Params = DedupParams
    fields = FIELDS

    def __init__(self, params: DedupParams, decisions: pa.Table) -> None:
        super().__init__(params)
        self.decisions = decisions

    def process(self, table: pa.Table) -> Verdict:
        found = pc.index_in(table.column("id"), self.decisions.column("id"))
        cluster = self.decisions.column("dup_cluster").take(found)
        size = pc.fill_null(self.decisions.column("dup_cluster_size").take(found), 1)
        table = table.append_column("dup_cluster", cluster).append_column("dup_cluster_size", size)
        return Verdict(table, removed=self.decisions.column("reason").take(found))
