"""`/metrics`: the store's jobs by status, in Prometheus' text format, read at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from pipeline.service.store import JobStore

STATUSES = ("PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED")
"""Ray's job statuses, each reported (0 included) so a dashboard's series never vanish."""


class JobsByStatus:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        counts = self.store.counts()
        family = GaugeMetricFamily(
            "tokenmill_jobs", "Jobs in the store by status", labels=["status"]
        )
        for status in sorted({*STATUSES, *counts}):
            family.add_metric([status], counts.get(status, 0))
        yield family


def metrics_text(store: JobStore) -> bytes:
    registry = CollectorRegistry()
    registry.register(JobsByStatus(store))
    return generate_latest(registry)
