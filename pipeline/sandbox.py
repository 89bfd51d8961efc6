"""A stage run in a child process, so that a batch past its time budget can be abandoned.

The engines that can hold on to one pathological document for minutes (lexbor building a
deep tree, RE2, presidio's regexes) run in C without returning to Python, so no signal can
interrupt them. A `Sandbox` runs its stage in a persistent child process and waits for each
batch's answer with a deadline; past it, it kills the child and raises `StageTimeout`, and
the next batch starts a fresh child. A child that dies mid-batch (a segfault in C) raises
`SandboxError`, and so does a stage that raises in the child (with the child's traceback).

The child is `python -m pipeline.sandbox` with its parent's `sys.path`, not a
multiprocessing one: inside a Ray worker, spawn re-imports the worker's `__main__`, and fork
of a threaded process is unsafe. Parent and child exchange length-prefixed pickles over the
child's stdin and stdout (Arrow's buffers out of band, so a batch is not copied to be sent):
the stage's class and params once, then batches. The child answers a batch twice: once it
has loaded what the batch's documents need (`Stage.load_for`: a language's word rules, which
is not timed: the budget starts then; the answer says how long it took, which the shard
runner counts as start-up, not work), and with the stage's `Verdict` or the traceback of
what it raised. The child imports only its stage's module, and exits when its stdin closes
(its parent is gone).

A process keeps its sandboxes and reuses them across shard tasks (`sandboxed`), because some
stages load models (spaCy, presidio, fastText) that take seconds to load; a stage built in
a child thus outlives one shard, with whatever it caches.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.documents import without
from pipeline.pandas_probe import skip_pandas_probe
from pipeline.stage import Stage, TimeBudget, Verdict

TIMED_GROUP = 64
"""Documents a sandbox is first given at a time, of each `group_by` value (language): a
slow language starts small (Korean's segmenter reads about 12,000 characters a second, so
64 pages of 4,000 characters take 21 s of the default 30-second budget)."""
LARGEST_GROUP = 256
"""The most documents a group grows to. Each call costs the quality stage a few
milliseconds of its own: in groups of 256 it takes about a tenth less CPU per document than
in groups of 64, and in groups of 512 more again (benchmarks/RESULTS.md)."""

KEPT = 4
"""Sandboxes (child processes) a process keeps; past it the least recently used is closed."""

PROTOCOL = 5
"""The pickle protocol whose buffers can travel out of band."""
SIZE = struct.Struct("<Q")
"""A message's number of parts, and each part's length, in front of the parts."""

_sandboxes: OrderedDict[tuple[str, str, str, tuple[str, ...]], Sandbox] = OrderedDict()
"""By stage, params and the columns its child leaves out; a Ray worker runs one task at a
time, so no lock."""


class GroupSizes:
    """How many documents of each `group_by` value (a language; None for a stage that has
    none) go to a timed stage at a time: `first` at first, half as many after a group that
    ran past the budget though none of its documents does alone (slow documents, not a stuck
    one), and twice as many, up to `largest`, after a full group that took under a quarter
    of it (twice as many then fit in half of it)."""

    def __init__(
        self, timeout: float, first: int = TIMED_GROUP, largest: int = LARGEST_GROUP
    ) -> None:
        self.timeout = timeout
        self.first, self.largest = first, largest
        self._sizes: dict[Hashable, int] = {}

    def of(self, key: Hashable) -> int:
        return self._sizes.get(key, self.first)

    def slowed(self, key: Hashable, documents: int) -> None:
        self._sizes[key] = max(1, documents // 2)

    def fitted(self, key: Hashable, documents: int, seconds: float) -> None:
        """A group of `documents` took `seconds`."""
        if documents == self.of(key) < self.largest and seconds < self.timeout / 4:
            self._sizes[key] = min(self.largest, 2 * documents)


class StageTimeout(Exception):
    """A batch ran past its stage's time budget; the child running it was killed."""


class SandboxError(Exception):
    """The stage raised in its child (the message holds the child's traceback), or the child
    died."""


class Sandbox(Stage):
    """`stage_type` built from `params` in a child process; each batch has `params.timeout`
    seconds to come back."""

    def __init__(
        self, stage_type: type[Stage], params: TimeBudget, leaves_out: tuple[str, ...] = ()
    ) -> None:
        super().__init__(params)
        self.stage_type = stage_type
        self.leaves_out = leaves_out
        """Columns the child drops from its verdicts' tables: raw columns no later stage
        reads, which would only cost the pipe (a batch's HTML, after `extract`)."""
        self.name = stage_type.name
        self.fields = stage_type.fields
        self.child: subprocess.Popen | None = None
        self.group_sizes = GroupSizes(params.timeout)
        """Documents the shard runner gives it at a time."""
        self._loading_s = 0.0

    def took_loading(self) -> float:
        """Seconds the child spent loading what batches needed since the last call."""
        seconds, self._loading_s = self._loading_s, 0.0
        return seconds

    def process(self, table: pa.Table) -> Verdict:
        child = self.start()
        # The child first loads what the batch needs (a language's word rules) and says how
        # long that took; the budget starts then.
        self._loading_s += self._ask(child, table, deadline=None)
        return self._answer(child, time.monotonic() + self.params.timeout)

    def start(self) -> subprocess.Popen:
        """The child, started and its stage built if there is none; building is not timed."""
        if self.child is None:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "pipeline.sandbox"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            stage = self.stage_type
            try:
                self._ask(
                    self.child,
                    (
                        stage.__module__,
                        stage.__qualname__,
                        self.params.model_dump_json(),
                        self.leaves_out,
                    ),
                    deadline=None,
                )
            except SandboxError:
                self.close()  # a child whose stage could not be built exits
                raise
        return self.child

    def close(self) -> None:
        """Kill the child, if any, and reap it."""
        if self.child is not None:
            self.child.kill()
            self.child.wait()
            self.child.stdin.close()
            self.child.stdout.close()
            self.child = None

    def _ask(self, child: subprocess.Popen, request: Any, deadline: float | None) -> Any:
        """Send `request` and return the answer; kill the child if it does not give one."""
        self._talk(child, lambda: _send(child.stdin.fileno(), request))
        return self._answer(child, deadline)

    def _answer(self, child: subprocess.Popen, deadline: float | None) -> Any:
        """The child's next answer; kill the child if it does not give one by `deadline`."""
        kind, answer = self._talk(child, lambda: _receive(child.stdout.fileno(), deadline))
        if kind == "error":
            raise SandboxError(f"{self.name} raised in its child process:\n{answer}")
        return answer

    def _talk(self, child: subprocess.Popen, exchange: Callable[[], Any]) -> Any:
        """`exchange` with the child; a child that times out, dies or is left mid-answer is
        killed."""
        try:
            return exchange()
        except StageTimeout:
            self.close()
            raise StageTimeout(
                f"{self.name}: no answer within {self.params.timeout:g} s; child killed"
            ) from None
        except (EOFError, BrokenPipeError):
            self.close()
            raise SandboxError(
                f"{self.name}: its child process died (exit code {child.returncode})"
            ) from None
        except BaseException:  # interrupted: the child's next answer would be this one's
            self.close()
            raise


def sandboxed(
    stage_type: type[Stage], params: TimeBudget, leaves_out: tuple[str, ...] = ()
) -> Sandbox:
    """This process's sandbox for `stage_type` with `params`, its child started."""
    key = (stage_type.__module__, stage_type.__qualname__, params.model_dump_json(), leaves_out)
    sandbox = _sandboxes.pop(key, None) or Sandbox(stage_type, params, leaves_out)
    _sandboxes[key] = sandbox
    while len(_sandboxes) > KEPT:
        _sandboxes.popitem(last=False)[1].close()
    sandbox.start()
    return sandbox


class _ArrowPickler(pickle.Pickler):
    """Pickles a slice of an Arrow table or array as a copy of its own rows: Arrow's pickle of
    a one-row slice would carry its whole batch's buffers."""

    def reducer_override(self, obj: Any) -> Any:
        arrow = isinstance(obj, pa.Table | pa.ChunkedArray | pa.Array)
        if arrow and obj.get_total_buffer_size() > 2 * obj.nbytes:
            return obj.take(np.arange(len(obj))).__reduce_ex__(PROTOCOL)
        return NotImplemented


def _send(fd: int, message: Any) -> None:
    """`message` as a pickle whose buffers (the Arrow data) follow it out of band, uncopied:
    the number of parts, their lengths, then the parts."""
    buffers: list[pickle.PickleBuffer] = []
    data = io.BytesIO()
    _ArrowPickler(data, protocol=PROTOCOL, buffer_callback=buffers.append).dump(message)
    parts = [data.getbuffer(), *(buffer.raw() for buffer in buffers)]
    sizes = [len(parts), *(part.nbytes for part in parts)]
    for part in (struct.pack(f"<{len(sizes)}Q", *sizes), *parts):
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]


def _receive(fd: int, deadline: float | None) -> Any:
    """The next message; raises `StageTimeout` past `deadline`, `EOFError` if the pipe closes."""
    (count,) = SIZE.unpack(_read(fd, SIZE.size, deadline))
    sizes = struct.unpack(f"<{count}Q", _read(fd, SIZE.size * count, deadline))
    data, *buffers = (_read(fd, size, deadline) for size in sizes)
    return pickle.loads(data, buffers=buffers)


def _read(fd: int, size: int, deadline: float | None) -> pa.Buffer:
    # Arrow's memory pool hands the same pages back batch after batch, where a new bytearray
    # is faulted in and zeroed every time: 21 instead of 55 ms for a 64 MB batch.
    data = pa.allocate_buffer(size)
    view = memoryview(data)
    while view:
        if deadline is not None:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise StageTimeout
        got = os.readv(fd, [view])
        if not got:
            raise EOFError
        view = view[got:]
    return data


def serve(requests: int, answers: int) -> None:
    """The child: build and load the stage it is sent, then answer batches until its input
    closes."""
    module, qualname, params, leaves_out = _receive(requests, None)
    try:
        stage_type: Any = importlib.import_module(module)
        for name in qualname.split("."):
            stage_type = getattr(stage_type, name)
        stage = stage_type(stage_type.Params.model_validate_json(params))
        stage.try_load()
    except Exception:
        _send(answers, ("error", traceback.format_exc()))
        return
    _send(answers, ("ready", None))
    while True:
        table = _receive(requests, None)
        started = time.perf_counter()
        with contextlib.suppress(Exception):  # left to `process`, which then errors the batch
            stage.load_for(table)
        _send(answers, ("loaded", time.perf_counter() - started))
        try:
            verdict = stage.process(table)
            verdict.table = without(verdict.table, leaves_out)
            _send(answers, ("verdict", verdict))
        except Exception:
            _send(answers, ("error", traceback.format_exc()))


def main() -> None:
    argparse.ArgumentParser(
        prog="python -m pipeline.sandbox",
        description="A stage's child process: it reads the stage and its batches as pickles on "
        "stdin and answers on stdout (a Sandbox starts it; it is not a command).",
    ).parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the parent to handle
    skip_pandas_probe()
    answers = os.dup(1)
    os.dup2(2, 1)  # what the stage prints goes to stderr, not into the answers
    with contextlib.suppress(EOFError, BrokenPipeError):  # the parent is gone
        serve(0, answers)


if __name__ == "__main__":
    main()
