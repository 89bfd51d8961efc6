"""Where token runs and checkpoints live: a local folder, or any fsspec URL (s3://, gs://, ...).

`location(text)` gives a `pathlib.Path` for a local path and a `RemotePath` for a URL; a
`RemotePath` has the few `Path` methods the loader and the checkpointer use, over fsspec, so
their code is the same for both. fsspec comes with torch; the URL's own package (s3fs, gcsfs)
is needed only for that kind of URL.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq


def is_url(text: str) -> bool:
    return "://" in text


class RemotePath:
    """A file or folder at an fsspec URL, with the `Path` methods the trainer uses."""

    def __init__(self, url: str, fs: Any = None) -> None:
        from fsspec.core import strip_protocol, url_to_fs

        self.url = url.rstrip("/")
        if fs is None:
            fs, _ = url_to_fs(self.url)
        self.fs = fs
        self.protocol, _, self.key = self.url.partition("://")
        self.path = strip_protocol(self.url)
        """What its file system calls it: s3's `bucket/key`, a web server's whole URL."""

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemotePath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __truediv__(self, part: str) -> RemotePath:
        return RemotePath(f"{self.url}/{part}", self.fs)

    def _child(self, found: str) -> RemotePath:
        return RemotePath(self.fs.unstrip_protocol(found.rstrip("/")), self.fs)

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def parent(self) -> RemotePath:
        return RemotePath(f"{self.protocol}://{PurePosixPath(self.key).parent}", self.fs)

    def with_name(self, name: str) -> RemotePath:
        return self.parent / name

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        return PurePosixPath(self.key).relative_to(other.key)

    def as_posix(self) -> str:
        return self.url

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def is_dir(self) -> bool:
        return self.fs.isdir(self.path)

    def iterdir(self) -> list[RemotePath]:
        self.fs.invalidate_cache(self.path)  # others (DCP's writer) may have written meanwhile
        return [self._child(found) for found in self.fs.ls(self.path, detail=False)]

    def glob(self, pattern: str) -> list[RemotePath]:
        folder, _, name = pattern.rpartition("/")
        base = self / folder if folder else self
        if not base.is_dir():
            return []
        return [child for child in base.iterdir() if fnmatch.fnmatch(child.name, name)]

    def open(self, mode: str = "rb") -> IO:
        return self.fs.open(self.path, mode)

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(self.path)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        self.fs.pipe_file(self.path, data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def unlink(self) -> None:
        self.fs.rm_file(self.path)


Location = Path | RemotePath


def location(text: str | Path | RemotePath) -> Location:
    """A local path as a `Path`, a URL as a `RemotePath`."""
    if isinstance(text, Path | RemotePath):
        return text
    return RemotePath(text) if is_url(text) else Path(text)


def read_json_object(file: Location) -> dict[str, Any]:
    """A JSON file that holds an object (meta.json, a model's config.json); OSError or
    ValueError where it cannot be read as one."""
    value = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def read_parquet(file: Location, columns: list[str]) -> pa.Table:
    if isinstance(file, RemotePath):
        with file.open("rb") as handle:
            return pq.read_table(handle, columns=columns)
    return pq.read_table(file, columns=columns)


def remove_tree(folder: Location) -> None:
    """Remove a folder and what it holds, if it exists."""
    if isinstance(folder, RemotePath):
        if folder.exists():
            folder.fs.rm(folder.path, recursive=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def move(source: Location, target: Location) -> None:
    """Rename a folder: atomic on a local disk; a copy, then a delete, on an object store."""
    if isinstance(source, RemotePath):
        fs = source.fs
        fs.invalidate_cache(source.path)
        for file in fs.find(source.path):  # files only: an object store has no folders to copy
            fs.copy(file, f"{target.path}/{PurePosixPath(file).relative_to(source.path)}")
        fs.rm(source.path, recursive=True)
    else:
        source.rename(target)


def copy_file(source: Location, target: Location) -> None:
    if isinstance(source, Path) and isinstance(target, Path):
        shutil.copyfile(source, target)
    else:
        target.write_bytes(source.read_bytes())
