"""WARC record framing: where each record starts and ends, with bounded reads and recovery.

We frame records ourselves (fastwarc only parses each record's headers, in `warc.py`) so
that we control offsets, recovery and bounds. A record is a `WARC/1.x` header up to a blank
line, Content-Length bytes of block, then `\\r\\n\\r\\n`. One parser reads records from a
forward-only `ByteStream`, over the file itself for a plain WARC, or over one gzip member
at a time, inflated only as far as it is read, for a `.warc.gz`.

A record over the cap comes back without its block, which is never read or inflated: a
plain file seeks past it, a gzip file goes on at the next gzip member. Wherever no record
is framed (a damaged header, a lying Content-Length, a member that does not inflate),
one `Damage` is reported for the region and reading resumes at the next record boundary:
the next `WARC/1.x` line that frames a record, or the next gzip member that inflates to
one. A record is judged by its own framing only, so damage right after a good record
never costs that record. A file that ends inside a record's block (or, gzipped, anywhere
in its member after its header) gives that record `truncated`; one that ends inside a
gzip member before a whole header gives `Damage("truncated_archive")`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from isal import isal_zlib

GZIP_MAGIC = b"\x1f\x8b\x08"
RECORD_VERSION = b"WARC/1."
RECORD_END = b"\r\n\r\n"
MAX_HEADER_BYTES = 64 << 10
READ_AHEAD = 64 << 10
SCAN_CHUNK = 1 << 20
CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d{1,18})[ \t]*\r?$")
RECORD_START = re.compile(rb"\nWARC/1\.[01]\r\n")
BLANK_LINES = re.compile(rb"[\r\n]*")


@dataclass
class RawRecord:
    """One framed record, its headers not yet parsed."""

    position: int | str
    """Its byte offset (plain), its gzip member's offset, or `"{member}+{offset inside}"` for
    a later record of a member that holds several."""
    header: bytes
    """The WARC header, from `WARC/1.x` through the blank line."""
    block: bytes
    """The content; empty when `too_large`, short when `truncated`."""
    length: int
    """The Content-Length the header declares."""
    too_large: bool = False
    truncated: bool = False
    """The archive ends inside the record (gzipped: inside its member)."""


@dataclass
class Damage:
    """A region where no record could be framed: one errored record of `reason`."""

    reason: str


class DamagedRecord(Exception):
    """No record is framed at this position."""


def raw_records(handle: BinaryIO, limit: int) -> Iterator[RawRecord | Damage]:
    """Every record of the WARC file, and one `Damage` per region that holds none."""
    handle.seek(0)
    if handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC:
        yield from _gzip_records(handle, limit)
    else:
        yield from _plain_records(handle, limit)


class ByteStream:
    """Forward-only reads over `source(size)`, which returns at most `size` bytes (fewer is
    fine) and b"" only at its end. It is never asked for more than a read needs plus
    `READ_AHEAD`, which is what bounds the inflation of a gzip member."""

    def __init__(self, source: Callable[[int], bytes], position: int = 0) -> None:
        self._source = source
        self._buffer = b""
        self.position = position
        """The offset of the next byte to read, counted from the source's start."""

    def peek(self, size: int) -> bytes:
        self._fill(size)
        return self._buffer[:size]

    def read(self, size: int) -> bytes:
        self._fill(size)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self.position += len(data)
        return data

    def read_until(self, marker: bytes, limit: int) -> bytes | None:
        """The bytes through the first `marker`, if it ends within `limit` bytes; else None
        (the stream ends first, or the marker is too far), reading nothing."""
        searched = 0
        while (end := self._buffer.find(marker, searched, limit)) < 0:
            if len(self._buffer) >= limit:
                return None
            searched = max(0, len(self._buffer) - len(marker) + 1)
            if not self._fill(len(self._buffer) + 1):
                return None
        return self.read(end + len(marker))

    def skip(self, pattern: re.Pattern[bytes]) -> None:
        """Drop what `pattern` matches at the stream's position, within the look-ahead."""
        self._fill(READ_AHEAD)
        self.read(pattern.match(self._buffer).end())

    def _fill(self, size: int) -> bool:
        """Buffer `size` bytes, or all that is left; False if fewer than `size` are left."""
        pieces = [self._buffer]
        buffered = len(self._buffer)
        while buffered < size:
            piece = self._source(max(size - buffered, READ_AHEAD))
            if not piece:
                break
            pieces.append(piece)
            buffered += len(piece)
        if len(pieces) > 1:
            self._buffer = b"".join(pieces)
        return buffered >= size


def read_record(stream: ByteStream, position: int | str, limit: int) -> RawRecord:
    """The record at the stream's position. A record over `limit` comes back without its
    block, the stream just past its header. Raises DamagedRecord where none is framed."""
    header = stream.read_until(RECORD_END, MAX_HEADER_BYTES)
    if header is None or not header.startswith(RECORD_VERSION):
        raise DamagedRecord
    declared = CONTENT_LENGTH.search(header)
    if declared is None:
        raise DamagedRecord
    length = int(declared.group(1))
    if length > limit:
        return RawRecord(position, header, b"", length, too_large=True)
    block = stream.read(length)
    if len(block) < length:
        return RawRecord(position, header, block, length, truncated=True)
    if not _is_record_end(stream.read(len(RECORD_END))):
        raise DamagedRecord
    return RawRecord(position, header, block, length)


def _is_record_end(trailer: bytes) -> bool:
    """The `\\r\\n\\r\\n` after a block; the archive may end inside it."""
    return trailer == RECORD_END or (
        len(trailer) < len(RECORD_END) and RECORD_END.startswith(trailer)
    )


def _plain_records(handle: BinaryIO, limit: int) -> Iterator[RawRecord | Damage]:
    size = handle.seek(0, 2)
    position: int | None = 0
    while position is not None:
        position = yield from _plain_run(handle, position, size, limit)


def _plain_run(
    handle: BinaryIO, position: int, size: int, limit: int
) -> Generator[RawRecord | Damage, None, int | None]:
    """The records read straight on from `position`, up to the next jump. Returns where
    reading goes on (past a block over the cap, or at the next record after damage), or
    None at the end of the file."""
    handle.seek(position)
    stream = ByteStream(handle.read, position)
    while True:
        stream.skip(BLANK_LINES)
        start = stream.position
        if not stream.peek(1):
            return None
        record = _plain_record(handle, stream, start, size, limit)
        if record is not None and not record.truncated:
            yield record
            if record.too_large:
                return stream.position + record.length + len(RECORD_END)
            continue
        # Damage, or the file ends inside the block: truncation only if no record starts
        # after it; else its Content-Length lies, and the records after it are intact.
        resume = _next_record_start(handle, start + 1)
        if resume is None:
            yield Damage("corrupt_record") if record is None else record
            return None
        yield Damage("corrupt_record")
        return resume


def _plain_record(
    handle: BinaryIO, stream: ByteStream, start: int, size: int, limit: int
) -> RawRecord | None:
    """The record at `start`, None where none is framed. The block of a record over the cap
    is not read: the record end after it is checked by seeking, which ends the run."""
    try:
        record = read_record(stream, start, limit)
    except DamagedRecord:
        return None
    if not record.too_large:
        return record
    block_end = stream.position + record.length
    if block_end >= size:
        return replace(record, truncated=True)
    handle.seek(block_end)
    return record if _is_record_end(handle.read(len(RECORD_END))) else None


def _next_record_start(handle: BinaryIO, start: int) -> int | None:
    """The offset of the first record at or after `start` that is framed: a `WARC/1.0|1.1`
    line whose header ends within the cap and declares a Content-Length that the record end
    follows. The file is read in overlapping chunks, and each byte of a chunk is searched
    once however many candidates fail, so the scan is linear."""
    base = max(start - 1, 0)  # a record at `start` is found by the line end before it
    while True:
        handle.seek(base)
        window = handle.read(SCAN_CHUNK + MAX_HEADER_BYTES)
        header_ends = _ForwardSearch(re.compile(re.escape(RECORD_END)), window)
        lengths = _ForwardSearch(CONTENT_LENGTH, window)
        for line in RECORD_START.finditer(window):
            if line.start() >= SCAN_CHUNK:
                break
            candidate = line.start() + 1
            header_end = header_ends.at_or_after(candidate)
            if header_end is None or header_end.end() - candidate > MAX_HEADER_BYTES:
                continue
            length = lengths.at_or_after(candidate)
            if length is None or length.start() > header_end.start():
                continue
            handle.seek(base + header_end.end() + int(length.group(1)))
            if _is_record_end(handle.read(len(RECORD_END))):
                return base + candidate
        if len(window) < SCAN_CHUNK + MAX_HEADER_BYTES:
            return None
        base += SCAN_CHUNK


class _ForwardSearch:
    """The first match of `pattern` in `data` at or after an offset, for offsets that never
    decrease: a match stays the answer until the offset passes it, so no byte is searched
    twice."""

    def __init__(self, pattern: re.Pattern[bytes], data: bytes) -> None:
        self._pattern = pattern
        self._data = data
        self._searched = False
        self._match: re.Match[bytes] | None = None

    def at_or_after(self, offset: int) -> re.Match[bytes] | None:
        if not self._searched or (self._match is not None and self._match.start() < offset):
            self._match = self._pattern.search(self._data, offset)
            self._searched = True
        return self._match


def _gzip_records(handle: BinaryIO, limit: int) -> Iterator[RawRecord | Damage]:
    size = handle.seek(0, 2)
    member = GzipMember(handle, 0)
    while True:
        damaged = False
        try:
            yield from _member_records(member, limit)
        except (DamagedRecord, isal_zlib.error):
            damaged = True
        if member.cut:
            if damaged:  # before a whole record header: no record to count it against
                yield Damage("truncated_archive")
            return
        if damaged:
            yield Damage("corrupt_record")
        if member.ended:
            if size - member.end <= 16 and _only_padding(handle, member.end):
                return
            member = member.following()
            continue
        offset = _next_member(handle, member.offset + 1)
        if offset is None:
            return
        member = GzipMember(handle, offset)


def _member_records(member: GzipMember, limit: int) -> Iterator[RawRecord]:
    """The records of one gzip member: normally one, all of them in a file gzipped as one
    stream. A record is handed out once the member's end (and so its CRC) is verified, or
    once another record follows it in the member; if the file ends first, it is handed out
    `truncated`. Reading stops after a record over the cap: its block is never inflated."""
    stream = ByteStream(member.read)
    stream.skip(BLANK_LINES)
    if not stream.peek(1) and member.cut:
        raise DamagedRecord
    position: int | str = member.offset
    while stream.peek(1):
        record = read_record(stream, position, limit)
        if record.too_large:
            yield record
            return
        if record.truncated and not member.cut:  # the member ends inside the block
            raise DamagedRecord
        stream.skip(BLANK_LINES)
        if stream.peek(1) or member.ended:
            yield record
        elif member.cut:
            yield replace(record, truncated=True)
        position = f"{member.offset}+{stream.position}"


class GzipMember:
    """The gzip member at `offset`, inflated only as far as it is read (by ISA-L, which
    inflates about twice as fast as Python's zlib)."""

    def __init__(self, handle: BinaryIO, offset: int, pending: bytes = b"") -> None:
        self.offset = offset
        self.cut = False
        """The file ends inside this member."""
        self._handle = handle
        self._inflater = isal_zlib.decompressobj(31)
        self._input = pending  # compressed bytes taken from the file, not yet inflated
        self._taken = len(pending)
        handle.seek(offset + len(pending))

    @property
    def ended(self) -> bool:
        return self._inflater.eof

    @property
    def end(self) -> int:
        """The offset just past the member, once it has `ended`."""
        return self.offset + self._taken - len(self._inflater.unused_data)

    def following(self) -> GzipMember:
        """The member that starts where this one ended."""
        return GzipMember(self._handle, self.end, self._inflater.unused_data)

    def read(self, size: int) -> bytes:
        """At most `size` inflated bytes; b"" once the member ends, or the file inside it."""
        while not self._inflater.eof:
            if not self._input:
                self._input = self._handle.read(READ_AHEAD)
                self._taken += len(self._input)
                if not self._input:
                    self.cut = True
                    return b""
            data = self._inflater.decompress(self._input, size)
            self._input = self._inflater.unconsumed_tail
            if data:
                return data
        return b""


def _next_member(handle: BinaryIO, start: int) -> int | None:
    """The offset of the first gzip member at or after `start` that inflates to a record,
    found by scanning the compressed bytes for the gzip magic."""
    position = start
    while True:
        handle.seek(position)
        window = handle.read(SCAN_CHUNK + len(GZIP_MAGIC) - 1)
        found = window.find(GZIP_MAGIC)
        while 0 <= found < SCAN_CHUNK:
            if _starts_a_record(handle, position + found):
                return position + found
            found = window.find(GZIP_MAGIC, found + 1)
        if len(window) < SCAN_CHUNK + len(GZIP_MAGIC) - 1:
            return None
        position += SCAN_CHUNK


def _starts_a_record(handle: BinaryIO, offset: int) -> bool:
    stream = ByteStream(GzipMember(handle, offset).read)
    try:
        return stream.peek(len(RECORD_VERSION)) == RECORD_VERSION
    except isal_zlib.error:
        return False


def _only_padding(handle: BinaryIO, start: int) -> bool:
    handle.seek(start)
    return not handle.read().strip()
