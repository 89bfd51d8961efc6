"""The run's output folder (local or any fsspec URL): its layout and atomic writes.

Everything is written under a temporary name and renamed when complete, so a reader (or a
resumed run) never sees half a file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from fsspec.core import url_to_fs


class RunOutput:
    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = url_to_fs(url)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    @contextmanager
    def atomic(self, *parts: str) -> Iterator[BinaryIO]:
        """Open `parts` for writing under a temporary name; rename into place on success."""
        final = self.path(*parts)
        folder, name = final.rsplit("/", 1)
        self.fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.tmp-{uuid.uuid4().hex[:8]}-{name}"
        try:
            with self.fs.open(temporary, "wb") as handle:
                yield handle
            self.fs.mv(temporary, final)
        finally:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)

    def write_json(self, data: Any, *parts: str) -> None:
        with self.atomic(*parts) as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=False, default=str).encode())

    def read_json(self, *parts: str) -> Any:
        with self.fs.open(self.path(*parts), "rb") as handle:
            return json.load(handle)

    def list(self, *parts: str, suffix: str = "") -> list[str]:
        folder = self.path(*parts)
        if not self.fs.exists(folder):
            return []
        names = sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False))
        return [n for n in names if n.endswith(suffix) and not n.startswith(".tmp-")]

    def remove(self, *parts: str) -> None:
        if self.exists(*parts):
            self.fs.rm(self.path(*parts), recursive=True)

    def remove_temporaries(self, *parts: str) -> None:
        folder = self.path(*parts)
        if self.fs.exists(folder):
            for path in self.fs.ls(folder, detail=False):
                if path.rsplit("/", 1)[-1].startswith(".tmp-"):
                    self.fs.rm(path, recursive=True)
