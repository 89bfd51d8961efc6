"""Starting or joining Ray: an embedded local Ray sized for the machine, or a cluster.

Locally Ray gets as many worker CPUs as configured (default: all) and a bounded object
store; shard tasks write their output straight to OUT, so the object store only carries
small results. Joining a cluster (`--address`) ships this checkout's packages with the job
so workers run the same code as the driver.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray

from pipeline.config import ExecutionConfig

PACKAGES = ("pipeline", "filters", "dedup", "mixing", "tokenizer", "trainer")


@contextmanager
def ray_session(execution: ExecutionConfig, address: str | None = None) -> Iterator[int]:
    """Ray for the duration of a run; yields the number of shard tasks to run at once."""
    if ray.is_initialized():
        yield execution.workers or int(ray.cluster_resources().get("CPU", 1))
        return
    if address:
        import importlib

        modules = [importlib.import_module(name) for name in PACKAGES]
        ray.init(
            address=address, runtime_env={"py_modules": modules}, logging_level=logging.WARNING
        )
    else:
        ray.init(
            num_cpus=execution.workers or os.cpu_count() or 1,
            object_store_memory=execution.object_store_mb << 20,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,
        )
    try:
        yield execution.workers or int(ray.cluster_resources().get("CPU", 1))
    finally:
        ray.shutdown()
