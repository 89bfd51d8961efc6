"""One run at a time per output folder: an exclusive lock, held for the whole run.

Locally it is an `fcntl` lock on `OUT/.tokenmill.lock`, which the operating system drops
when its process dies, so a killed run never leaves the folder locked. Object stores have
no locks, so there it is a lease: the same object, created only if absent (a conditional
write), naming its holder and when it expires. A thread renews it while the run lasts; a
lease that has expired (its run died without releasing it) is taken over. Hosts' clocks
must agree to within the lease's length for that to be safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pipeline.output import LOCK_NAME, RunOutput
from pipeline.schema import ConfigError

LEASE_S = 120.0
"""How long a lease on object storage lasts without renewal."""
RENEW_S = 30.0


@contextmanager
def locked(output: RunOutput, lease_s: float = LEASE_S) -> Iterator[None]:
    """Hold `output` for this run; another run of the same folder is refused meanwhile."""
    holder = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if output.is_local:
        with _file_lock(output, holder):
            yield
    else:
        with _lease(output, holder, lease_s):
            yield


def _in_use(output: RunOutput, holder: dict) -> ConfigError:
    by = f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"
    return ConfigError(
        f"output: {output.url} is in use by another tokenmill run ({by}); "
        "wait for it to finish or choose another --output"
    )


@contextmanager
def _file_lock(output: RunOutput, holder: dict) -> Iterator[None]:
    try:
        output.fs.makedirs(output.root, exist_ok=True)
    except OSError as err:  # no permission, a read-only or pseudo file system
        raise ConfigError(f"output: {output.url} cannot be made: {err.strerror or err}") from None
    with open(output.path(LOCK_NAME), "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            with contextlib.suppress(ValueError):
                holder = json.loads(handle.read())
            raise _in_use(output, holder) from None
        handle.truncate(0)
        handle.write(json.dumps(holder))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _lease(output: RunOutput, holder: dict, lease_s: float) -> Iterator[None]:
    lease = Lease(output, {**holder, "token": uuid.uuid4().hex}, lease_s)
    lease.acquire()
    renewing = threading.Thread(target=lease.renew_until_released, daemon=True)
    renewing.start()
    try:
        yield
    finally:
        lease.release()
        renewing.join()


class Lease:
    """The lease object on an object store, and its holder's side of it."""

    def __init__(self, output: RunOutput, holder: dict, lease_s: float) -> None:
        self.output = output
        self.path = output.path(LOCK_NAME)
        self.holder = holder
        self.lease_s = lease_s
        self.released = threading.Event()

    def acquire(self) -> None:
        if self._create():
            return
        current = self._read()
        if current is not None and current["expires"] > time.time():
            raise _in_use(self.output, current)
        with contextlib.suppress(FileNotFoundError):
            self.output.fs.rm(self.path)  # expired: its run died holding it
        if not self._create():
            raise _in_use(self.output, self._read() or {})

    def renew_until_released(self) -> None:
        while not self.released.wait(min(RENEW_S, self.lease_s / 4)):
            current = self._read()
            if current is None or current["token"] != self.holder["token"]:
                return  # taken over after it expired; release() leaves it alone
            self.output.fs.pipe_file(self.path, self._body())

    def release(self) -> None:
        self.released.set()
        current = self._read()
        if current is not None and current["token"] == self.holder["token"]:
            self.output.fs.rm(self.path)

    def _create(self) -> bool:
        try:
            self.output.fs.pipe_file(self.path, self._body(), mode="create")
        except FileExistsError:
            return False
        return True

    def _read(self) -> dict | None:
        try:
            return json.loads(self.output.fs.cat_file(self.path))
        except (FileNotFoundError, ValueError):
            return None

    def _body(self) -> bytes:
        return json.dumps({**self.holder, "expires": time.time() + self.lease_s}).encode()
