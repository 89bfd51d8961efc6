"""Compressed inputs cut or corrupt. `DAMAGED_STREAM` is what reading one raises, for each
compression fsspec reads: gzip (decompressed here by ISA-L, `GzipMembers`, with its own
error for a bad deflate block), bz2, xz (LZMAError), zip (BadZipFile, as it is opened), and
a stream that ends early (EOFError). The line and text readers keep what came before and
count the rest as one errored `corrupt_archive`; the model-training commands name the file.
python-zstandard's reader ends quietly where a file is cut, so `decompressed` walks a zstd
file's frame headers first and makes its end raise EOFError like the others. A zip archive
of several files, of which fsspec reads the first alone, raises `ArchiveOfFiles` before
any is read."""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import infer_compression
from isal.igzip_lib import DECOMP_GZIP, IgzipDecompressor, IsalError

DAMAGED_STREAM = (EOFError, OSError, zlib.error, IsalError, lzma.LZMAError, zipfile.BadZipFile)


class ArchiveOfFiles(ValueError):
    """A zip input holding several files: fsspec would read the first and drop the rest."""


@contextmanager
def decompressed(path: str) -> Iterator[BinaryIO]:
    """`path` opened for reading, decompressed as its name says (fsspec's inference); a local
    zstd file cut short raises EOFError where its data ends, as the other decompressors do.
    (The walk over a file's block headers takes milliseconds on a disk; over object storage
    each would be a request, so remote zstd files are read as they come.)"""
    opened = fsspec.open(path, "rb", compression="infer")
    compression = infer_compression(path)
    if compression == "zip":
        _refuse_zip_of_files(opened)
    if compression == "gzip":
        with opened.fs.open(opened.path, "rb") as raw:
            yield io.BufferedReader(GzipMembers(raw), INFLATE_CHUNK)
        return
    with opened as handle:
        if compression == "zstd" and isinstance(opened.fs, LocalFileSystem):
            with opened.fs.open(opened.path, "rb") as raw:
                cut = zstd_is_cut(raw)
            yield CutShort(handle) if cut else handle
        else:
            yield handle


def _refuse_zip_of_files(opened: fsspec.core.OpenFile) -> None:
    with opened.fs.open(opened.path, "rb") as raw:
        try:
            members = [m for m in zipfile.ZipFile(raw).infolist() if not m.is_dir()]
        except zipfile.BadZipFile:
            return  # fsspec's own reading says what is wrong with it
    if len(members) > 1:
        raise ArchiveOfFiles(
            f"a zip archive of {len(members)} files, of which only the first would be read; "
            "extract them (unzip) and give a glob of their files"
        )


def decompressed_bytes(path: str) -> bytes:
    """All of `path`, decompressed as its name says; DAMAGED_STREAM where it is cut or
    corrupt (a cut local zstd file too)."""
    with decompressed(path) as handle:
        return handle.read()


CUT_STREAM = "Compressed file ended before the end-of-stream marker was reached"
"""What Python's decompressors (bz2, lzma, gzip) say where a file is cut."""
INFLATE_CHUNK = 1 << 20


class GzipMembers(io.RawIOBase):
    """A gzip file's members, decompressed (by ISA-L) as they are read. Where the file is cut
    or corrupt, all that decompressed before the damage is returned first, then EOFError
    (or the decompressor's error): isal's own reader drops what the last buffer it read
    (512 KiB of compressed input) held. Zero bytes between or after members are padding,
    as Python's gzip module reads them."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflater: IgzipDecompressor | None = None  # the current member's

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        size = size if size > 0 else INFLATE_CHUNK
        while True:
            if self._inflater is None or self._inflater.eof:
                data = self._next_member(size)
            elif self._inflater.needs_input:
                compressed = self._raw.read(INFLATE_CHUNK)
                if not compressed:
                    raise EOFError(CUT_STREAM)
                data = self._inflater.decompress(compressed, size)
            else:
                data = self._inflater.decompress(b"", size)
            if data or self._inflater is None:
                return data

    def _next_member(self, size: int) -> bytes:
        """What the member after the current one (or the first) starts with; b"" at the end,
        where no member starts (then `_inflater` is None)."""
        rest = b"" if self._inflater is None else self._inflater.unused_data
        while not (rest := rest.lstrip(b"\0")):
            rest = self._raw.read(INFLATE_CHUNK)
            if not rest:
                self._inflater = None
                return b""
        self._inflater = IgzipDecompressor(flag=DECOMP_GZIP)
        return self._inflater.decompress(rest, size)

    def readinto(self, buffer) -> int:
        data = self.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class CutShort:
    """A decompressed stream of a file known to be cut: reaching its end raises EOFError."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if size < 0 or len(data) < size:
            raise EOFError("the compressed file ends inside a frame: it was cut short")
        return data

    def read1(self, size: int = -1) -> bytes:
        data = self._handle.read1(size)
        if not data:
            raise EOFError("the compressed file ends inside a frame: it was cut short")
        return data


ZSTD_MAGIC = 0xFD2FB528
SKIPPABLE_MAGICS = range(0x184D2A50, 0x184D2A60)


def zstd_is_cut(raw: BinaryIO) -> bool:
    """Whether the zstd frames of the seekable byte stream `raw` end before their last block
    does: python-zstandard's reader ends quietly where a file is cut, as no other
    decompressor does. Only the frame and block headers are read; block contents are
    sought over (RFC 8878, 3.1)."""
    size = raw.seek(0, io.SEEK_END)
    at = raw.seek(0)
    while at < size:
        head = raw.read(4)
        if len(head) < 4:
            return True
        (magic,) = struct.unpack("<I", head)
        if magic in SKIPPABLE_MAGICS:
            length = raw.read(4)
            if len(length) < 4:
                return True
            at = raw.seek(struct.unpack("<I", length)[0], io.SEEK_CUR)
        elif magic == ZSTD_MAGIC:
            at = _frame_end(raw)
        else:
            return False  # not zstd past here: the decompressor says so itself
        if at > size:
            return True
    return False


def _frame_end(raw: BinaryIO) -> int:
    """Where the frame whose magic number was just read ends (maybe past the file's end)."""
    descriptor = raw.read(1)
    if not descriptor:
        return raw.tell() + 1
    flags = descriptor[0]
    single_segment = flags >> 5 & 1
    content_size_bytes = (0 if not single_segment else 1, 2, 4, 8)[flags >> 6]
    dictionary_bytes = (0, 1, 2, 4)[flags & 3]
    at = raw.seek((not single_segment) + dictionary_bytes + content_size_bytes, io.SEEK_CUR)
    last = False
    while not last:
        block = raw.read(3)
        if len(block) < 3:
            return at + 3
        header = int.from_bytes(block, "little")
        last, kind, length = header & 1, header >> 1 & 3, header >> 3
        at = raw.seek(1 if kind == 1 else length, io.SEEK_CUR)  # an RLE block holds one byte
    return at + 4 * (flags >> 2 & 1)  # the content checksum
