"""What a file is, to tell whether it changed: its size, its date and a content checksum
(sha256 of local files; an object store's ETag, which it keeps for us, elsewhere)."""

from __future__ import annotations

import hashlib
from typing import Any

import fsspec

CHUNK = 8 << 20


def describe_file(path: str, checksum: bool = True) -> dict[str, Any]:
    """Size, modification time and checksum of `path`; `checksum=False` leaves out a local
    file's sha256, which means reading the whole file."""
    fs, stripped = fsspec.core.url_to_fs(path)
    try:
        info = fs.info(stripped)
    except FileNotFoundError:
        return {"missing": True}
    described: dict[str, Any] = {"size": info.get("size")}
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
    if etag:
        described["etag"] = str(etag).strip('"')
    elif "file" in fs.protocol:
        described["mtime"] = info.get("mtime")
        if checksum:
            described["sha256"] = sha256_of(fs, stripped)
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
