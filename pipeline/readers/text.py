"""Plain-text reader: one document per file, or one per section split by a regex.

With `split_on` (e.g. `^ = [^=].* = $` for WikiText's article headings) a new document
starts at each match. A file that is not UTF-8 is one errored `invalid_utf8`; sections
over `max_record_bytes` are errored `too_large`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import fsspec
import numpy as np
import pyarrow as pa

from pipeline.inputs import InputFile
from pipeline.readers.columns import documents_from_columns
from pipeline.stats import StageStats


def read_text(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    with fsspec.open(file.path, "rb", compression="infer") as handle:
        raw = handle.read()
    stats.bytes_in += len(raw)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.docs_in += 1
        stats.errored["invalid_utf8"] += 1
        return
    sections = _split(content, file.spec.split_on)
    stats.docs_in += len(sections)
    limit = file.spec.max_record_bytes
    small = [(n, s) for n, s in enumerate(sections) if len(s.encode()) <= limit]
    stats.errored["too_large"] += len(sections) - len(small)
    for start in range(0, len(small), batch_size):
        block = small[start : start + batch_size]
        table = pa.table({"text": pa.array([section for _, section in block], pa.string())})
        offsets = pa.array(np.array([n for n, _ in block], dtype=np.int64))
        yield documents_from_columns(table, offsets, file, stats)


def _split(content: str, pattern: str | None) -> list[str]:
    if pattern is None:
        return [content]
    starts = [match.start() for match in re.finditer(pattern, content, flags=re.MULTILINE)]
    bounds = [0, *(s for s in starts if s > 0), len(content)]
    sections = [content[a:b] for a, b in itertools.pairwise(bounds)]
    return [section for section in sections if section.strip()]
