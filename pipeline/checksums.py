"""What a file is, to tell whether it changed: its size, its date and a content checksum
(sha256 of local files; an object store's ETag, which it keeps for us, elsewhere).

Files a run writes are hashed as they are written (`HashingSink`), and what a later step
reads is checked against that (`verify_file`), so a truncated or altered shard is named
instead of read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec

CHUNK = 8 << 20


class FileChanged(Exception):
    """A file differs from what was recorded of it when it was written or read."""


def describe_file(path: str, checksum: bool = True) -> dict[str, Any]:
    """Size, modification time and checksum of `path`; `checksum=False` leaves out a local
    file's sha256, which means reading the whole file. A web server's file without an ETag
    gets none either: it would be downloaded a second time, after its shard read it."""
    fs, stripped = fsspec.core.url_to_fs(path)
    try:
        info = fs.info(stripped)
    except FileNotFoundError:
        return {"missing": True}
    described = identity(fs, info)
    web = "http" in fs.protocol
    if checksum and "etag" not in described and not web:
        described["sha256"] = sha256_of(fs, stripped)
    return described


def identity(fs: fsspec.AbstractFileSystem, info: dict[str, Any]) -> dict[str, Any]:
    """What `fs.info` says that changes with the content: size, and the local file's date or
    the store's ETag."""
    described: dict[str, Any] = {"size": info.get("size")}
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
    if etag:
        described["etag"] = str(etag).strip('"')
    elif "file" in fs.protocol:
        described["mtime"] = info.get("mtime")
    elif "Last-Modified" in info:  # a web server's
        described["last_modified"] = info["Last-Modified"]
    return described


def content_checksum(path: str) -> str | None:
    """The checksum of `path`'s content alone (not its date): sha256, or the store's ETag."""
    described = describe_file(path)
    return described.get("sha256") or described.get("etag")


def sha256_of(fs: fsspec.AbstractFileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_changed(recorded: dict[str, Any], path: str) -> bool:
    """Whether `path` differs from what `describe_file` recorded of it. Without reading it
    when its size and date (or ETag) still match; with a local file of the same size but
    another date, by its sha256."""
    now = describe_file(path, checksum=False)
    if now.get("missing") or recorded.get("missing"):
        return now.get("missing") != recorded.get("missing")
    if now.get("size") != recorded.get("size") or now.get("etag") != recorded.get("etag"):
        return True
    if "etag" in now or now.get("mtime") == recorded.get("mtime"):
        return False
    return describe_file(path)["sha256"] != recorded.get("sha256")


def verify_file(path: str, recorded: dict[str, Any]) -> None:
    """Raise `FileChanged`, naming `path`, unless its content is what was recorded when it
    was written: the same sha256 (read in full), or the same ETag on an object store."""
    now = describe_file(path)
    if now.get("missing"):
        raise FileChanged(f"{path}: missing; it was written by this run")
    for key in ("sha256", "etag"):
        if key in recorded and key in now and now[key] != recorded[key]:
            raise FileChanged(
                f"{path}: its {key} differs from when this run wrote it "
                f"({now['size']:,} bytes now, {recorded['size']:,} then)"
            )


@contextmanager
def naming_the_file(path: str) -> Iterator[None]:
    """An OSError inside that names no file names `path`: a full disk's `[Errno 28]` alone
    says not which disk."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, path) from err


class HashingSink:
    """A binary sink that hashes (sha256) and counts what is written through it; what the
    file system refuses names the file `name`."""

    def __init__(self, sink: Any, name: str) -> None:
        self._sink = sink
        self._name = name
        self._digest = hashlib.sha256()
        self.size = 0
        self.written: dict[str, Any] | None = None
        """Once the file is complete and in place: its size, date or ETag, and sha256."""

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._digest.update(view)
        self.size += view.nbytes
        with naming_the_file(self._name):
            return self._sink.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        with naming_the_file(self._name):
            self._sink.flush()

    def close(self) -> None:
        with naming_the_file(self._name):
            self._sink.close()

    @property
    def closed(self) -> bool:
        return self._sink.closed

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
