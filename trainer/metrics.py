"""Training logs: `RUN/metrics.jsonl` (one object per logged step), TensorBoard when it is
installed, and progress on stderr: a tqdm bar on a terminal (where tqdm is installed; a
bare GPU image may lack it), one plain line per logged step elsewhere (job logs, files, CI),
where a bar's carriage returns would garble the log."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

import torch


def memory_gib(device: torch.device) -> float:
    """Peak accelerator memory, or the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _tensorboard(folder: Path, start_step: int):
    """A TensorBoard writer, or None where TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder), purge_step=start_step + 1)


def _progress_bar(total_steps: int, start_step: int):
    """A tqdm bar on stderr, or None off a terminal or where tqdm is not installed."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total_steps, initial=start_step, unit="step", file=sys.stderr, dynamic_ncols=True
    )


class MetricsLog:
    """Written by rank 0 only; other ranks get a logger that does nothing."""

    def __init__(self, run: Path, enabled: bool, total_steps: int, start_step: int) -> None:
        self.enabled = enabled
        if not enabled:
            return
        self.path = run / "metrics.jsonl"
        self._drop_rows_after(start_step)
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open for the run, closed in close())
        self.tensorboard = _tensorboard(run / "tb", start_step)
        self.bar = _progress_bar(total_steps, start_step)
        self.total_steps = total_steps

    def _drop_rows_after(self, step: int) -> None:
        """A resumed run rewrites the steps after its checkpoint; keep the log consistent."""
        if not self.path.is_file():
            return
        rows = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = [row for row in rows if (logged := _step_of(row)) is not None and logged <= step]
        self.path.write_text("".join(row + "\n" for row in kept), encoding="utf-8")

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, row["step"])
        if "loss" not in row:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
        else:
            print(
                f"step {row['step']}/{self.total_steps} loss {row['loss']:.4f} "
                f"{row['tokens_per_s']:,.0f} tokens/s",
                file=sys.stderr,
                flush=True,
            )

    def advance(self) -> None:
        if self.enabled and self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        self.file.close()


def _step_of(row: str) -> int | None:
    """A metrics row's step; None for a row that a crash cut short while it was written."""
    try:
        parsed = json.loads(row)
    except ValueError:
        return None
    return parsed.get("step", 0) if isinstance(parsed, dict) else None
