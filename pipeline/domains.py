"""Documents per web domain: how many each gave, how many were kept, and why the others went.

A domain is the URL's host, lowercased, without a leading `www.`; documents without a URL
count under `(no url)`. Each shard keeps the `SHARD_DOMAINS` domains with the most
documents, so memory and the run state stay bounded on a crawl of millions of hosts; the
report lists the run's `REPORT_DOMAINS` largest, whose counts are exact wherever a domain
was among each of its shards' largest (a domain big enough to be listed is, unless spread
thinly over many shards).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

SHARD_DOMAINS = 500
REPORT_DOMAINS = 25
NO_URL = "(no url)"
HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(?P<host>[^/:?#]+)"


@dataclass
class DomainTally:
    kept: int = 0
    bytes_kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """Documents removed or errored, by `stage: reason`."""

    @property
    def documents(self) -> int:
        return self.kept + sum(self.dropped.values())


@dataclass
class Domains:
    tallies: dict[str, DomainTally] = field(default_factory=dict)

    def add_kept(self, table: pa.Table) -> None:
        keyed = pa.table({"domain": domains_of(table), "bytes": _text_bytes(table)})
        grouped = keyed.group_by("domain").aggregate([([], "count_all"), ("bytes", "sum")])
        for row in grouped.to_pylist():
            tally = self._tally(row["domain"])
            tally.kept += row["count_all"]
            tally.bytes_kept += row["bytes_sum"] or 0

    def add_dropped(self, stage: str, table: pa.Table, reasons: pa.Array) -> None:
        keyed = pa.table({"domain": domains_of(table), "reason": reasons.cast(pa.string())})
        grouped = keyed.group_by(["domain", "reason"]).aggregate([([], "count_all")])
        for row in grouped.to_pylist():
            self._tally(row["domain"]).dropped[f"{stage}: {row['reason']}"] += row["count_all"]

    def merge(self, other: Domains) -> None:
        for name, theirs in other.tallies.items():
            tally = self._tally(name)
            tally.kept += theirs.kept
            tally.bytes_kept += theirs.bytes_kept
            tally.dropped.update(theirs.dropped)

    def largest(self, count: int) -> Domains:
        """Only the `count` domains with the most documents."""
        ranked = sorted(self.tallies.items(), key=lambda kv: (-kv[1].documents, kv[0]))
        return Domains(dict(ranked[:count]))

    def report(self, count: int = REPORT_DOMAINS) -> list[dict[str, Any]]:
        """The largest domains, each with its three most common reasons."""
        return [
            {
                "name": name,
                "documents": tally.documents,
                "kept": tally.kept,
                "removed": sum(tally.dropped.values()),
                "bytes_kept": tally.bytes_kept,
                "top_reasons": dict(tally.dropped.most_common(3)),
            }
            for name, tally in self.largest(count).tallies.items()
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            name: {"kept": t.kept, "bytes_kept": t.bytes_kept, "dropped": dict(t.dropped)}
            for name, t in self.tallies.items()
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Domains:
        return cls(
            {
                name: DomainTally(t["kept"], t["bytes_kept"], Counter(t["dropped"]))
                for name, t in data.items()
            }
        )

    def _tally(self, name: str) -> DomainTally:
        return self.tallies.setdefault(name, DomainTally())


def domains_of(table: pa.Table) -> pa.Array:
    """Each document's domain (`(no url)` where it has none)."""
    if "url" not in table.column_names:
        return pa.array([NO_URL] * table.num_rows, pa.string())
    urls = pc.cast(table.column("url"), pa.string())
    hosts = pc.struct_field(pc.extract_regex(urls, HOST), "host")
    hosts = pc.replace_substring_regex(pc.utf8_lower(hosts), r"^www\.", "")
    return pc.fill_null(hosts, NO_URL).combine_chunks()


def _text_bytes(table: pa.Table) -> pa.Array:
    if "text" not in table.column_names:
        return pa.array([0] * table.num_rows, pa.int64())
    lengths = pc.binary_length(pc.fill_null(table.column("text"), ""))
    return pc.cast(lengths, pa.int64()).combine_chunks()
