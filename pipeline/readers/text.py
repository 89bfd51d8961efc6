"""Plain-text reader: one document per file, or one per section split by a regex.

With `split_on` (e.g. `^ = [^=].* = $` for WikiText's article headings) a new document
starts at each match; its position, for the id, is the line it starts on. A document
that is not UTF-8 is errored `invalid_utf8` (in a split file only the sections that are
not; the others are read); one over `max_record_bytes` is errored `too_large` (a
whole-file document is not read past the limit).
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterator

import fsspec
import numpy as np
import pyarrow as pa

from pipeline.inputs import InputFile
from pipeline.readers.columns import documents_from_columns, utf8_size
from pipeline.stats import StageStats


def read_text(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    limit = file.spec.max_record_bytes
    try:
        with fsspec.open(file.path, "rb", compression="infer") as handle:
            # A whole-file document is read no further than the limit; a split file whole.
            raw = handle.read() if file.spec.split_on else handle.read(limit + 1)
    except (EOFError, OSError, zlib.error):  # a compressed file that is cut or corrupt
        stats.docs_in += 1
        stats.errored["corrupt_archive"] += 1
        return
    stats.bytes_in += len(raw)
    if file.spec.split_on is None and len(raw) > limit:
        stats.docs_in += 1
        stats.errored["too_large"] += 1
        return
    # Bytes that are not UTF-8 become lone surrogates, so only their sections are lost.
    sections = _split(raw.decode("utf-8", errors="surrogateescape"), file.spec.split_on)
    stats.docs_in += len(sections)
    sized = [(line, s, size) for line, s in sections if (size := utf8_size(s)) is not None]
    if len(sized) < len(sections):
        stats.errored["invalid_utf8"] += len(sections) - len(sized)
    small = [(line, s) for line, s, size in sized if size <= limit]
    if len(small) < len(sized):
        stats.errored["too_large"] += len(sized) - len(small)
    for start in range(0, len(small), batch_size):
        block = small[start : start + batch_size]
        table = pa.table({"text": pa.array([section for _, section in block], pa.string())})
        lines = pa.array(np.array([line for line, _ in block], dtype=np.int64))
        yield documents_from_columns(table, lines, file, stats)


def _split(content: str, pattern: str | None) -> list[tuple[int, str]]:
    """The non-blank sections, each with the number of the line it starts on."""
    if pattern is None:
        return [(0, content)]
    starts = [match.start() for match in re.finditer(pattern, content, flags=re.MULTILINE)]
    bounds = [0, *(s for s in starts if s > 0), len(content)]
    sections, line = [], 0
    for a, b in itertools.pairwise(bounds):
        if content[a:b].strip():
            sections.append((line, content[a:b]))
        line += content.count("\n", a, b)
    return sections
