"""Plain-text reader: one document per file, or one per section split by a regex.

With `split_on` (e.g. `^ = [^=].* = $` for WikiText's article headings) a new document
starts at each match; its position, for the id, is the line it starts on. A split file is
read as a stream (`SectionSplitter`), so a file of any size costs one section's memory. A
document that is not UTF-8 is errored `invalid_utf8` (in a split file only the sections
that are not; the others are read); one over `max_record_bytes` is errored `too_large`
(neither a whole-file document nor a section is held past the limit). Line ends are read
as `\n` (`\r\n` and `\r` too) and a leading byte order mark is dropped, so a Windows
file splits as its Unix twin. A compressed file that is cut or corrupt keeps the sections
before the damage and counts the rest as one errored `corrupt_archive`; a zip archive of
several files is one errored `archive_of_files`.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from pipeline.compressed import DAMAGED_STREAM, ArchiveOfFiles, decompressed
from pipeline.inputs import InputFile
from pipeline.readers.columns import documents_from_columns, utf8_size
from pipeline.stats import StageStats

READ_BYTES = 1 << 20
Section = tuple[int, str | None]
"""The line a section starts on, and its text (None when it is over the limit)."""


def read_text(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    limit = file.spec.max_record_bytes
    block: list[tuple[int, str]] = []
    try:
        with decompressed(file.path) as handle:
            for line, section in _sections(handle, file.spec.split_on, limit, stats):
                stats.docs_in += 1
                if section is None:
                    stats.errored["too_large"] += 1
                elif (size := utf8_size(section)) is None:
                    # Bytes that are not UTF-8 became lone surrogates: only their section is lost.
                    stats.errored["invalid_utf8"] += 1
                elif size > limit:
                    stats.errored["too_large"] += 1
                else:
                    block.append((line, section))
                    if len(block) == batch_size:
                        yield _documents(block, file, stats)
                        block = []
    except DAMAGED_STREAM:
        stats.docs_in += 1
        stats.errored["corrupt_archive"] += 1
    except ArchiveOfFiles:
        stats.docs_in += 1
        stats.errored["archive_of_files"] += 1
    if block:
        yield _documents(block, file, stats)


def _sections(handle, split_on: str | None, limit: int, stats: StageStats) -> Iterator[Section]:
    if split_on is None:
        raw = handle.read(limit + 1)  # a whole-file document is read no further than the limit
        stats.bytes_in += len(raw)
        yield 0, None if len(raw) > limit else _utf8_lines().decode(raw, final=True)
        return
    splitter = SectionSplitter(split_on, limit)
    try:
        for piece in _decoded(handle, stats):
            yield from splitter.feed(piece)
    except DAMAGED_STREAM:
        yield from splitter.complete()  # the sections before the damage, all of them
        raise
    yield from splitter.finish()


def _utf8_lines() -> io.IncrementalNewlineDecoder:
    """UTF-8 (bytes that are not become lone surrogates) with universal newlines: `\r\n`
    and `\r` read as `\n`, so that `split_on`'s `$` ends a Windows file's lines too. A
    byte order mark that opens the file (Windows' "UTF-8 with BOM") is not text."""
    utf8 = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
    return io.IncrementalNewlineDecoder(utf8, translate=True)


def _decoded(handle, stats: StageStats) -> Iterator[str]:
    decoder = _utf8_lines()
    read = getattr(handle, "read1", handle.read)  # what is decompressed, as it comes
    while raw := read(READ_BYTES):
        stats.bytes_in += len(raw)
        yield decoder.decode(raw)
    yield decoder.decode(b"", final=True)


def _documents(block: list[tuple[int, str]], file: InputFile, stats: StageStats) -> pa.Table:
    table = pa.table({"text": pa.array([section for _, section in block], pa.string())})
    lines = pa.array(np.array([line for line, _ in block], dtype=np.int64))
    return documents_from_columns(table, lines, file, stats)


class SectionSplitter:
    """Cuts text that comes piece by piece into the non-blank sections `re.finditer(pattern,
    text, re.MULTILINE)` would start over the whole text, holding no more than the current
    section: past `limit` characters, only its last `CONTEXT` characters are kept, and it
    comes out as None.

    A match is taken once it ends `MARGIN` characters before the text read so far ends, so
    a pattern that must look further ahead than that to decide may split differently (a
    match longer than `limit` is taken as far as it reaches)."""

    MARGIN = 64 << 10
    CONTEXT = 4 << 10
    """Text kept before where the search goes on, for `^` and look-behinds."""

    def __init__(self, pattern: str, limit: int) -> None:
        self._regex = re.compile(pattern, re.MULTILINE)
        self._limit = limit
        self._text = ""
        self._start = 0  # the current section's start in `_text`; -1: before it (dropped)
        self._line = 0  # the line the current section starts on
        self._search = 0  # where the search for the next match goes on
        self._dropped_lines = 0  # newlines in the current section's dropped part
        self._dropped_text = False  # whether that part held more than whitespace

    def feed(self, piece: str) -> Iterator[Section]:
        self._text += piece
        yield from self._cut(final=False)
        self._forget()

    def complete(self) -> Iterator[Section]:
        """The sections that end in the text fed so far, when no more will come: the one it
        ends in is left out (it may have gone on)."""
        yield from self._cut(final=True)

    def finish(self) -> Iterator[Section]:
        yield from self._cut(final=True)
        yield from self._section_until(len(self._text))

    def _cut(self, final: bool) -> Iterator[Section]:
        horizon = len(self._text) if final else len(self._text) - self.MARGIN
        searched = horizon
        for match in self._regex.finditer(self._text, self._search):
            if match.end() > horizon and match.end() - match.start() <= self._limit:
                self._search = match.start()  # decided once more text is read
                return
            if match.start() > self._start:
                yield from self._section_until(match.start())
            searched = max(searched, match.end())
        self._search = max(self._search, searched)

    def _section_until(self, end: int) -> Iterator[Section]:
        text = self._text[max(self._start, 0) : end]
        oversized = self._start < 0 or len(text) > self._limit
        if self._dropped_text or text.strip():
            yield self._line, None if oversized else text
        self._line += self._dropped_lines + text.count("\n")
        self._dropped_lines, self._dropped_text = 0, False
        self._start = end

    def _forget(self) -> None:
        """Drops the text before the current section, and the section's own text but its
        last `CONTEXT` characters once it is known to run past the limit."""
        keep = self._search - self.CONTEXT
        if self._start >= 0 and self._search - self._start <= self._limit:
            keep = min(keep, self._start)
        if keep <= 0:
            return
        if self._start < keep:  # past the limit: its dropped part is only counted
            dropped = self._text[max(self._start, 0) : keep]
            self._dropped_lines += dropped.count("\n")
            self._dropped_text = self._dropped_text or not dropped.isspace()
            self._start = -1
        else:
            self._start -= keep
        self._text = self._text[keep:]
        self._search -= keep
