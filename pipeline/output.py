"""The run's output folder (local or any fsspec URL): its layout, atomic writes, and what
tokenmill may delete there.

Everything is written under a temporary name (`.tmp-<name>` beside it) and renamed when
complete, so a reader (or a resumed run) never sees half a file, and a writer that redoes a
killed one's work writes over what that one left.

tokenmill deletes only what it can prove it wrote. Before a file outside the run's own
folders (`_state/`, `_work/`) is written, it is recorded in the ledger, `_state/files/`, and
once it is complete, with its size, date and sha256. Removing a folder removes the
recorded files in it and their unfinished temporaries, nothing else; `damaged` names the
recorded files that are no longer what was written.
`_state/` and `_work/` hold nothing but the run's bookkeeping and intermediates, and go
whole. Which folders may hold a run at all is `check_output`'s to say.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from pipeline.checksums import HashingSink, file_changed, identity, naming_the_file
from pipeline.schema import ConfigError

WORK = "_work"
"""The run's intermediates (segments between global stages, phases' scratch), removed when
the run is complete."""
OWN_FOLDERS = ("_state", WORK)
"""The run's bookkeeping (pipeline/state.py) and intermediates: nothing of the user's is
ever in them."""
LEDGER = ("_state", "files")
"""One entry per file tokenmill wrote elsewhere in the folder, named by its quoted path:
empty (`{}`) while the file is written, then what it is (size, date or ETag, sha256)."""
LOCK_NAME = ".tokenmill.lock"
"""Held by the run that writes the folder (pipeline.output_lock); not part of the run."""
RUN_MARKER = ("_state", "plan.json")
"""Present in every folder that holds a tokenmill run."""
TEMPORARY = re.compile(r"\.tmp-(?P<name>.+)")
CHECKOUT_MARKERS = (".git", ".hg", ".svn")


class RunOutput:
    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = url_to_fs(url)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def url_of(self, *parts: str) -> str:
        """`path(*parts)` as code that opens it on its own needs it: a local path, or a URL."""
        path = self.path(*parts)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    @contextmanager
    def atomic(self, *parts: str) -> Iterator[HashingSink]:
        """Open `parts` for writing under a temporary name; rename into place on success.
        Then the sink's `written` describes the file, sha256 included, for the run's records."""
        final = self.path(*parts)
        folder, name = final.rsplit("/", 1)
        self.fs.makedirs(folder, exist_ok=True)
        if parts[0] not in OWN_FOLDERS:
            self._record(parts, {})
        temporary = f"{folder}/.tmp-{name}"
        try:
            with closing(HashingSink(self.fs.open(temporary, "wb"), final)) as sink:
                yield sink
            self.fs.mv(temporary, final)
            sink.written = {**identity(self.fs, self.fs.info(final)), "sha256": sink.sha256}
            if parts[0] not in OWN_FOLDERS:
                self._record(parts, sink.written)
        finally:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)

    def write_json(self, data: Any, *parts: str) -> None:
        with self.atomic(*parts) as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=False, default=str).encode())

    def read_json(self, *parts: str) -> Any:
        """A JSON file the run wrote; one that no longer parses is a ConfigError naming it."""
        with self.fs.open(self.path(*parts), "rb") as handle:
            try:
                return json.load(handle)
            except ValueError as err:  # not JSON, or not UTF-8
                after = (
                    "; `tokenmill run --fresh` starts the run over"
                    if parts[0] in OWN_FOLDERS
                    else ""
                )
                raise ConfigError(
                    f"{self.path(*parts)}: not the JSON tokenmill wrote ({err}): the file was "
                    f"changed or cut since{after}"
                ) from None

    def list(self, *parts: str, suffix: str = "") -> list[str]:
        folder = self.path(*parts)
        if not self.fs.exists(folder):
            return []
        names = sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False))
        return [n for n in names if n.endswith(suffix) and not n.startswith(".tmp-")]

    def owned(self, *parts: str) -> list[tuple[str, ...]]:
        """The files tokenmill recorded writing at or under `parts`."""
        prefix = "/".join(parts)
        entries = (tuple(unquote(name).split("/")) for name in self.list(*LEDGER))
        return sorted(
            entry
            for entry in entries
            if not prefix or "/".join(entry) == prefix or "/".join(entry).startswith(prefix + "/")
        )

    def remove(self, *parts: str) -> None:
        """Remove what tokenmill wrote at `parts` (a file or a folder): all of one of its own
        folders; elsewhere only the files it recorded, with their unfinished temporaries."""
        if parts[0] in OWN_FOLDERS:
            if self.exists(*parts):
                self.fs.rm(self.path(*parts), recursive=True)
            return
        self._remove_owned(self.owned(*parts))

    def remove_run(self) -> None:
        """Everything tokenmill wrote here (for `--fresh`); the user's own files stay."""
        self._remove_owned(self.owned())
        for folder in OWN_FOLDERS:
            self.remove(folder)

    def copy_run(self, folder: str) -> None:
        """This (local) run into the local `folder`, which holds none: its bookkeeping copied,
        every file it wrote hard-linked where the two share a disk. A link is safe because
        no file outside the bookkeeping is ever written in place: a rerun replaces it by
        renaming, or removes it."""
        source, target = Path(self.root), Path(folder)
        shutil.copytree(source / "_state", target / "_state", dirs_exist_ok=True)
        for entry in self.owned():
            if not source.joinpath(*entry).is_file():  # recorded, never finished
                continue
            into = target.joinpath(*entry)
            into.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source.joinpath(*entry), into)
            except OSError:  # another disk, or a file system without links
                shutil.copy2(source.joinpath(*entry), into)

    def remove_temporaries(self, *parts: str) -> None:
        """Half-written files a killed writer left in the folder `parts`: the temporaries of
        files tokenmill recorded (or any, in one of its own folders)."""
        folder = self.path(*parts)
        if not self.fs.exists(folder):
            return
        own = bool(parts) and parts[0] in OWN_FOLDERS
        for path in self.fs.ls(folder, detail=False):
            name = path.rsplit("/", 1)[-1]
            if (match := TEMPORARY.fullmatch(name)) and (
                own or self.exists(*LEDGER, _ledger_name((*parts, match["name"])))
            ):
                self.fs.rm(path, recursive=True)

    def damaged(self, paths: list[str]) -> list[str]:
        """Of these files tokenmill wrote (paths in the folder), those missing or no longer
        what it wrote: by size and date, and by sha256 where the date differs."""
        found = []
        for path in paths:
            written = self._ledger_entry(tuple(path.split("/"))) or {}
            if "sha256" in written and file_changed(written, self.url_of(path)):
                found.append(self.url_of(path))
        return found

    def _ledger_entry(self, parts: tuple[str, ...]) -> dict[str, Any] | None:
        try:
            with self.fs.open(self.path(*LEDGER, _ledger_name(parts)), "rb") as handle:
                return json.loads(handle.read() or b"{}")
        except FileNotFoundError:
            return None

    def _record(self, parts: tuple[str, ...], entry: dict[str, Any]) -> None:
        """Note `parts` in the ledger: empty before it is written, then what it is."""
        self.fs.makedirs(self.path(*LEDGER), exist_ok=True)
        path = self.path(*LEDGER, _ledger_name(parts))
        with naming_the_file(path):
            self.fs.pipe_file(path, json.dumps(entry).encode())

    def _remove_owned(self, entries: list[tuple[str, ...]]) -> None:
        folders = sorted({entry[:-1] for entry in entries}, key=len, reverse=True)
        for folder in folders:
            self.remove_temporaries(*folder)  # while the ledger still vouches for them
        for entry in entries:
            if self.exists(*entry):
                self.fs.rm(self.path(*entry))
            self.fs.rm(self.path(*LEDGER, _ledger_name(entry)))
        for folder in folders:
            self._prune(folder)

    def _prune(self, folder: tuple[str, ...]) -> None:
        """`folder` and its parents, as far as removing left them empty (local folders only:
        object stores have none)."""
        if not self.is_local:
            return
        for depth in range(len(folder), 0, -1):
            path = Path(self.path(*folder[:depth]))
            if not path.is_dir() or any(path.iterdir()):
                return
            path.rmdir()


def _ledger_name(parts: tuple[str, ...]) -> str:
    return quote("/".join(parts), safe="")


WEB = ("http://", "https://")


def check_output(output: RunOutput) -> None:
    """Refuse a folder that must not hold a run: `/`, the home folder, the current folder, a
    source checkout, or a non-empty folder that is not a tokenmill run."""
    try:
        problem = _forbidden(output) or _foreign(output)
    except Exception as err:  # the store's own: no credentials, access denied
        raise ConfigError(
            f"output: {output.url} could not be read: {type(err).__name__}: {err}"
        ) from None
    if problem:
        raise ConfigError(
            f"output: {output.url} {problem}; give the run a folder of its own (e.g. runs/NAME)"
        )


def _forbidden(output: RunOutput) -> str | None:
    if output.url.startswith(WEB):
        return "is a web address, where nothing is written (object storage is: s3://, gs://)"
    if not output.is_local:
        return None if output.root.strip("/").count("/") else "is the root of its bucket"
    return forbidden_folder(Path(output.root))


def forbidden_folder(folder: Path) -> str | None:
    """Why a local folder must hold no run of any kind (pipeline or training), or None."""
    folder = folder.resolve()
    if folder == Path(folder.anchor):
        return "is the root folder"
    if folder == Path.home().resolve():
        return "is the home folder"
    if folder == Path.cwd().resolve():
        return "is the current folder"
    if any((folder / marker).exists() for marker in CHECKOUT_MARKERS):
        return "is a source checkout"
    return None


def _foreign(output: RunOutput) -> str | None:
    """Why the folder is someone else's: it holds files and no tokenmill run."""
    if output.fs.isfile(output.root):
        return "is a file"
    try:
        names = [path.rsplit("/", 1)[-1] for path in output.fs.ls(output.root, detail=False)]
    except FileNotFoundError:
        return None
    if not [name for name in names if name != LOCK_NAME] or output.exists(*RUN_MARKER):
        return None
    shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
    return f"holds files that are not a tokenmill run ({shown})"
