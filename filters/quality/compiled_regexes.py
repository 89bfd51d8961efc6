"""Large regexes compiled once per machine, not once per process.

spaCy builds some languages' rules as one regex when their module is imported: French's
token exceptions are a 1.4 MB pattern that Python's `re` takes 2 s to compile, in every
worker process that meets a French page. While a language loads (`kept_compiled`), a
pattern of at least `LARGE` characters is compiled as `re` compiles it, and the program it
hands its C engine is kept in a file of the cache folder (`TOKENMILL_CACHE`, else
`$XDG_CACHE_HOME/tokenmill`, else `~/.cache/tokenmill`), named by the pattern, its flags and
the Python that compiled it; later processes read it back in milliseconds (the engine checks
a program it is given). A file that cannot be read or written is no error: the pattern is
compiled as usual.
"""

from __future__ import annotations

import _sre
import hashlib
import json
import os
import sys
from array import array
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from re import _compiler, _parser  # what `re.compile` runs (3.11+)

LARGE = 10_000
"""Characters from which a pattern is worth a file (French's 1.4 MB; Slovenian's 17 kB)."""


def cache_folder() -> Path:
    """Where compiled regexes are kept."""
    if folder := os.environ.get("TOKENMILL_CACHE"):
        return Path(folder) / "regex"
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "tokenmill" / "regex"


@contextmanager
def kept_compiled(folder: Path | None = None):
    """Within it, `re` compiles a pattern of `LARGE` characters or more through `folder`
    (default `cache_folder()`)."""
    compile_ = _compiler.compile
    _compiler.compile = partial(_compile, compile_, folder or cache_folder())
    try:
        yield
    finally:
        _compiler.compile = compile_


@dataclass(frozen=True)
class Program:
    """What `re` hands its C engine for one pattern."""

    flags: int
    code: list[int]
    groups: int
    groupindex: dict[str, int]

    def compiled(self, pattern: str):
        indexgroup = [None] * (self.groups + 1)
        for name, index in self.groupindex.items():
            indexgroup[index] = name
        return _sre.compile(
            pattern, self.flags, self.code, self.groups, self.groupindex, tuple(indexgroup)
        )


def _compile(compile_, folder: Path, pattern, flags: int = 0):
    if not isinstance(pattern, str) or len(pattern) < LARGE or flags & _compiler.SRE_FLAG_DEBUG:
        return compile_(pattern, flags)
    path = folder / f"{_key(pattern, flags)}.bin"
    with suppress(OSError, ValueError, KeyError, TypeError, RuntimeError):  # not kept, damaged
        return _read(path).compiled(pattern)
    parsed = _parser.parse(pattern, flags)
    program = Program(
        flags | parsed.state.flags,
        _compiler._code(parsed, flags),
        parsed.state.groups - 1,
        dict(parsed.state.groupdict),
    )
    _write(path, program)
    return program.compiled(pattern)


def _key(pattern: str, flags: int) -> str:
    about = f"{sys.version}\0{_sre.MAGIC}\0{_sre.CODESIZE}\0{flags}\0{pattern}"
    return hashlib.sha256(about.encode("utf-8", "surrogatepass")).hexdigest()


def _read(path: Path) -> Program:
    header, _, body = path.read_bytes().partition(b"\n")
    fields = json.loads(header)
    code = array(_code_type())
    code.frombytes(body)
    if len(code) != fields["length"]:
        raise ValueError(f"{path}: cut short")
    return Program(fields["flags"], code.tolist(), fields["groups"], fields["groupindex"])


def _write(path: Path, program: Program) -> None:
    """Keep `program` in `path`, whole or not at all (written aside, then renamed)."""
    header = {
        "flags": program.flags,
        "groups": program.groups,
        "groupindex": program.groupindex,
        "length": len(program.code),
    }
    body = array(_code_type(), program.code).tobytes()
    aside = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        aside.write_bytes(json.dumps(header).encode() + b"\n" + body)
        os.replace(aside, path)
    except OSError:  # a read-only or full disk: compiled again next time
        with suppress(OSError):
            aside.unlink(missing_ok=True)


def _code_type() -> str:
    """The array type of the engine's code words (`_sre.CODESIZE` bytes each)."""
    return next(kind for kind in "HILQ" if array(kind).itemsize == _sre.CODESIZE)
