"""datatrove's MinHash dedup as its four steps run it, for the benchmarks: the reference our
`dedup` stage is timed against (benchmarks/dedup.py alone, benchmarks/recipe.py after the
filters)."""

from __future__ import annotations

from pathlib import Path

Step = tuple[list, int]
"""A pipeline and the number of tasks it runs as."""


def minhash_steps(reader, work: Path, config, tasks: int, exclusion_writer=None) -> list[Step]:
    """MinhashDedupSignature → Buckets → Cluster → Filter over `reader`'s documents (`tasks`
    tasks where they are read), the kept ones written to `work/output` as Parquet;
    `config`: a datatrove `MinhashConfig`."""
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.pipeline.writers import ParquetWriter

    signatures, buckets, remove_ids = (
        str(work / name) for name in ("signatures", "buckets", "remove_ids")
    )
    return [
        ([reader, MinhashDedupSignature(signatures, config=config)], tasks),
        ([MinhashDedupBuckets(signatures, buckets, config=config)], config.num_buckets),
        ([MinhashDedupCluster(buckets, remove_ids, config=config)], 1),
        (
            [
                reader,
                MinhashDedupFilter(remove_ids, exclusion_writer=exclusion_writer),
                ParquetWriter(str(work / "output")),
            ],
            tasks,
        ),
    ]


def run_steps(steps: list[Step], workers: int, work: Path) -> None:
    """Each step on its own LocalPipelineExecutor with `workers` processes, one after another
    (its logs under `work`), its per-task stats kept off the terminal."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.utils.logging import logger

    logger.remove()  # its per-task stats would bury the comparison
    for number, (pipeline, tasks) in enumerate(steps):
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=workers,
            logging_dir=str(work / f"logs-{number}"),
        ).run()
