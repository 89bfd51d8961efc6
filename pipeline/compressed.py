"""Compressed inputs cut or corrupt. `DAMAGED_STREAM` is what reading one raises, for each
compression fsspec reads: gzip (through isal, where installed, with its own error for a
bad deflate block), bz2, xz (LZMAError), zip (BadZipFile, as it is opened), and a stream
that ends early (EOFError). The line and text readers keep what came before and count the
rest as one errored `corrupt_archive`; the model-training commands name the file.
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
from isal.igzip_lib import IsalError

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
