"""Documents whose fate changed between two runs over the same inputs: kept by one run and
not by the other, with what the other did to them.

A document's id hashes its input's path and its position there, so runs that read the same
files at the same paths give the same document the same id. A document one run did not
keep is `removed by stage: reason` where that run kept its removed documents
(`keep_removed: true`), `not kept` where it did not, and `not read` where the run never had
it (another input, or a source the run does not have). Runs that read the same files at
other paths (two checkouts) share no id: that is said instead (`unmatched`).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.output import RunOutput
from pipeline.sample import EXCERPT_CHARS

SAMPLE_SIZE = 8
"""Documents shown for each direction (kept only by A, kept only by B)."""


def changed_fates(
    a: RunOutput, b: RunOutput, manifests: list[dict], limit: int = SAMPLE_SIZE
) -> dict[str, Any]:
    """How many documents each run kept that the other did not, and a sample of each
    (the smallest ids, which are hashes: a uniform, repeatable draw); or, where no
    document can be matched, why (`unmatched`). `manifests` are the runs'."""
    if why := _unmatched(*(manifest.get("inputs") or [] for manifest in manifests)):
        return {"unmatched": why}
    configs = [manifest.get("config", {}) for manifest in manifests]
    kept = {"a": _ids(a, "documents"), "b": _ids(b, "documents")}
    fates = {"a": _removals(a), "b": _removals(b)}
    sources = {"a": _sources(configs[0]), "b": _sources(configs[1])}
    result: dict[str, Any] = {}
    for mine, other, run in (("a", "b", a), ("b", "a", b)):
        only = sorted(kept[mine] - kept[other])
        samples = _documents(run, only[:limit])
        for sample in samples:
            sample[mine] = "kept"
            if sources[other] is None or sample["source"] in sources[other]:
                sample[other] = _fate(sample["id"], fates[other])
            else:
                sample[other] = f"not read (the run has no source {sample['source']!r})"
        result[f"kept_only_in_{mine}"] = {"documents": len(only), "samples": samples}
    return result


def _unmatched(a: list[dict], b: list[dict]) -> str | None:
    """Why no document of one run can be matched to the other's: they read no file at the
    same path, yet files of the same name and size; None otherwise (runs of other files
    share no document, and say so document by document)."""
    if {file["path"] for file in a} & {file["path"] for file in b}:
        return None
    theirs = {_name_and_size(file): file["path"] for file in b}
    pair = next(((f["path"], theirs[key]) for f in a if (key := _name_and_size(f)) in theirs), None)
    if pair is None:
        return None
    mine, other = pair
    return (
        "not matched: ids hash each input's path, and the runs read the same files at other "
        f"paths ({mine} in A is {other} in B); run both on the same paths to see which "
        "documents changed fate"
    )


def _name_and_size(file: dict) -> tuple[str, int | None]:
    return PurePosixPath(file["path"]).name, file.get("size")


def _ids(output: RunOutput, folder: str) -> set[str]:
    return {
        value
        for name in output.list(folder, suffix=".parquet")
        for value in _read(output, folder, name, ["id"]).column("id").to_pylist()
    }


def _sources(config: dict[str, Any]) -> set[str] | None:
    """The sources a run's config names; None where it names none."""
    inputs = config.get("inputs")
    return None if inputs is None else {spec["source"] for spec in inputs}


def _removals(output: RunOutput) -> dict[str, str] | None:
    """id → `stage: reason` of every document the run removed, or None if it kept none."""
    names = output.list("removed", suffix=".parquet")
    if not names:
        return None
    removals: dict[str, str] = {}
    for name in names:
        table = _read(output, "removed", name, ["id", "stage", "reason"])
        for row in table.to_pylist():
            removals[row["id"]] = f"removed by {row['stage']}: {row['reason']}"
    return removals


def _fate(document: str, removals: dict[str, str] | None) -> str:
    if removals is None:
        return "not kept (the run did not keep removed documents)"
    return removals.get(document, "not read (not in the run's inputs)")


def _documents(output: RunOutput, ids: list[str]) -> list[dict[str, Any]]:
    """`{id, url, source, excerpt}` of the kept documents `ids`, in that order."""
    if not ids:
        return []
    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    for name in output.list("documents", suffix=".parquet"):
        table = _read(output, "documents", name, ["id", "url", "source", "text"], wanted)
        for row in table.to_pylist():
            found[row["id"]] = {
                "id": row["id"],
                "url": row["url"],
                "source": row["source"],
                "excerpt": (row["text"] or "")[:EXCERPT_CHARS],
            }
    return [found[document] for document in ids if document in found]


def _read(output: RunOutput, folder: str, name: str, columns: list[str], ids: set | None = None):
    with output.fs.open(output.path(folder, name), "rb") as handle:
        table = pq.read_table(handle, columns=columns)
    if ids is not None:
        table = table.filter(pc.is_in(table.column("id"), value_set=pa.array(sorted(ids))))
    return table
