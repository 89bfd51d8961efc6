"""Running a model-training program (lmplz, build_binary, fastText's child) and, where it
fails, saying why in one line: what the program said last, or the signal that stopped it.
The error is a ChildProcessError, an OSError, which the CLI prints as one line."""

from __future__ import annotations

import signal
import subprocess


def run_child(command: list[str], name: str, **streams) -> None:
    """Run `command` (stdin/stdout as `streams` give them); its stderr is kept for the error."""
    done = subprocess.run(command, stderr=subprocess.PIPE, **streams)
    if done.returncode == 0:
        return
    said = last_words(done.stderr.decode(errors="replace"))
    if done.returncode < 0:  # an abort often says why first (KenLM's failed allocation)
        stopped = f"{name} was stopped by {signal.Signals(-done.returncode).name}"
        raise ChildProcessError(stopped + (f": {said}" if said else ""))
    raise ChildProcessError(
        f"{name} failed (exit status {done.returncode}): {said or 'it printed nothing'}"
    )


def last_words(stderr: str) -> str:
    """The message in a failed program's stderr, on one line: KenLM's follows the line naming
    where it `threw` (and ends on `ERROR`); a Python traceback's is its last line."""
    lines = [line.strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and line != "ERROR"]
    threw = [at for at, line in enumerate(lines) if " threw " in line]
    message = lines[threw[-1] + 1 :] if threw else lines[-1:]
    return " ".join(message)
