"""torchrun for `tokenmill train --nproc N`, with a failed rank told in one line.

Each rank writes its error for the launcher to say once (`trainer.rank_errors`); torchrun
then logged the failed rank and raised `ChildFailedError`, whose traceback and table of ranks
said nothing more. Here those become nothing where the first failed rank wrote why, else one
line: its rank and exit status (or signal, for a rank killed before it could say anything). A Ctrl-C or `kill`, which torchrun passes on to the ranks before it
raises `SignalException`, ends it with the shell's status for the signal, quietly. So does
the end of the CLI that started it, however it ends (`kill -9` too): on Linux the kernel
then sends it SIGTERM.

    python -m pipeline.torchrun TORCHRUN_ARGUMENTS...
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.rank_errors import RANK_ERRORS, told_by

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

PR_SET_PDEATHSIG = 1
"""prctl(2)'s option: the signal this process gets when the thread that started it ends."""
PARENT_PID = "TOKENMILL_TORCHRUN_PARENT"
"""The environment variable in which the CLI gives its pid."""


def stop_with_parent() -> None:
    """SIGTERM this process when its parent ends: the ranks went on training once the CLI
    was killed. Linux only. A parent that ended before (as Python started) is told by the
    pid it gave, no longer this process's parent."""
    if not sys.platform.startswith("linux"):
        return
    parent = int(os.environ.get(PARENT_PID, os.getppid()))
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(128 + signal.SIGTERM)


def first_failure(error: ChildFailedError) -> str:
    rank, failure = error.get_first_failure()
    if failure.exitcode < 0:
        return f"rank {rank} was stopped by {failure.signal_name()}"
    return f"rank {rank} exited with status {failure.exitcode}"


if __name__ == "__main__":
    stop_with_parent()  # before torch's imports, which take a second or two
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main

    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    try:
        main()
    except ChildFailedError as error:
        errors = os.environ.get(RANK_ERRORS)
        if not (errors and told_by(Path(errors), error.get_first_failure()[0])):
            print(f"torchrun: {first_failure(error)}", file=sys.stderr, flush=True)
        sys.exit(1)
    except SignalException as stopped:
        sys.exit(128 + stopped.sigval)
