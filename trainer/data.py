"""The data loader over token shards (`OUT/tokens/*.parquet`, DESIGN.md's contract).

Each run's documents (already framed by `<|bos|>` … `<|eos|>`) are concatenated and cut
into windows of `seq_len + 1` tokens that overlap by one, so every token is a target once.
Shards are visited in an order shuffled per epoch by the seed; several runs are
interleaved by weight with a smooth weighted round-robin, which needs no random state.

Every rank reads the same stream and takes its own slice of each global batch, so the
global batch is the same whatever the number of ranks. The loader's state (per run: epoch,
shard, token offset and the carried-over buffer; the round-robin credits) is small,
saved in checkpoints, and a resumed loader continues with the next unseen token.

A run is a local folder or any fsspec URL (`trainer.storage`). Its tokens/manifest.json is
the list of its shards, train and val: `check_shards`
refuses a run whose files on disk differ from it or whose bytes differ from its sha256.
"""

from __future__ import annotations

import copy
import hashlib
import json
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import torch

from trainer.errors import TrainingError
from trainer.storage import Location, read_parquet


class ShardError(TrainingError):
    """A run's token shards disagree with its tokens/manifest.json: missing, unlisted or changed."""


def manifest_path(run: Location) -> Location:
    return run / "tokens" / "manifest.json"


def listed_shards(run: Location) -> dict[str, str | None]:
    """The shards the run's manifest lists: path relative to OUT/tokens/ -> recorded sha256."""
    path = manifest_path(run)
    if not path.is_file():
        raise ShardError(f"{path}: token manifest not found")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["shards"]
        return {
            Path(entry["path"]).as_posix().removeprefix("tokens/"): entry.get("sha256")
            for entry in entries
        }
    except (ValueError, KeyError, TypeError) as err:
        raise ShardError(f"{path}: not a token manifest ({type(err).__name__}: {err})") from None


def train_shards(run: Location) -> list[Location]:
    """The training shards the manifest lists (OUT/tokens/*.parquet), in name order."""
    tokens = run / "tokens"
    shards = [tokens / name for name in sorted(listed_shards(run)) if not name.startswith("val/")]
    if not shards:
        raise ShardError(f"{manifest_path(run)}: lists no training shards")
    return shards


def val_shards(run: Location) -> list[Location]:
    """The validation shards the manifest lists (OUT/tokens/val/*.parquet), in name order."""
    tokens = run / "tokens"
    return [tokens / name for name in sorted(listed_shards(run)) if name.startswith("val/")]


def sha256_file(path: Location) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(run: Location, shards: list[Location]) -> None:
    """Refuse a shard whose sha256 differs from the one the run's tokens/manifest.json records."""
    manifest, tokens = manifest_path(run), run / "tokens"
    recorded = listed_shards(run)
    for shard in shards:
        name = shard.relative_to(tokens).as_posix()
        if name not in recorded:
            raise ShardError(f"{shard}: not listed in {manifest}")
        if recorded[name] is None:
            raise ShardError(
                f"{shard}: {manifest} records no sha256 for it "
                "(data.verify_checksums: false trains without checking)"
            )
        if sha256_file(shard) != recorded[name]:
            raise ShardError(f"{shard}: sha256 does not match {manifest}; refusing it")


def _and_more(names: list[str]) -> str:
    return f" (and {len(names) - 1} more)" if len(names) > 1 else ""


def check_shards(run: Location, checksums: bool = True) -> None:
    """Before training: the shard files on disk are exactly those the run's manifest lists
    (train and val), and, with `checksums`, each has the sha256 recorded there.

    A shard file the manifest does not list is refused rather than skipped: the folder is then
    not the run the manifest describes (a leftover, a partial copy), and training on it should
    not go unnoticed."""
    manifest, tokens = manifest_path(run), run / "tokens"
    listed = listed_shards(run)
    found = {
        path.relative_to(tokens).as_posix()
        for path in [*tokens.glob("*.parquet"), *tokens.glob("val/*.parquet")]
    }
    missing, unlisted = sorted(listed.keys() - found), sorted(found - listed.keys())
    if missing:
        raise ShardError(
            f"{tokens / missing[0]}: listed in {manifest} but missing{_and_more(missing)}"
        )
    if unlisted:
        raise ShardError(
            f"{tokens / unlisted[0]}: a shard {manifest} does not list{_and_more(unlisted)}; "
            "remove it or rerun the tokens stage"
        )
    if checksums:
        verify_checksums(run, [tokens / name for name in sorted(listed)])


def read_tokens(shard: Location) -> np.ndarray:
    """All of a shard's token ids, documents concatenated, as one int32 array."""
    column = read_parquet(shard, ["input_ids"]).column("input_ids")
    if column.num_chunks == 0:
        return np.empty(0, np.int32)
    return (
        column.combine_chunks().values.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    )


class TokenStream:
    """One run's training tokens as an endless stream of `seq_len + 1` windows."""

    def __init__(self, shards: list[Location], seq_len: int, seed: int, state: dict | None = None):
        self.shards, self.seq_len, self.seed = shards, seq_len, seed
        self.state = (
            copy.deepcopy(state)
            if state
            else {
                "epoch": 0,
                "shard": 0,
                "offset": 0,
                "buffer": np.empty(0, np.int32),
            }
        )
        self._loaded: tuple[tuple[int, int], np.ndarray] | None = None

    def _shard_tokens(self) -> np.ndarray:
        key = (self.state["epoch"], self.state["shard"])
        if self._loaded is None or self._loaded[0] != key:
            order = np.random.default_rng([self.seed, key[0]]).permutation(len(self.shards))
            self._loaded = (key, read_tokens(self.shards[order[key[1]]]))
        return self._loaded[1]

    def take(self, count: int) -> np.ndarray:
        """The next `count` windows, shape (count, seq_len + 1)."""
        length = self.seq_len
        out = np.empty((count, length + 1), np.int32)
        filled, empty_shards = 0, 0
        while filled < count:
            state = self.state
            flat, buffer = self._shard_tokens(), state["buffer"]
            wanted = (count - filled) * length + 1 - len(buffer)  # ≥ 1: buffer ≤ seq_len
            piece = flat[state["offset"] : state["offset"] + wanted]
            tokens = np.concatenate([buffer, piece]) if len(buffer) else piece
            windows = max((len(tokens) - 1) // length, 0)
            if windows:
                view = np.lib.stride_tricks.sliding_window_view(tokens, length + 1)[::length]
                out[filled : filled + windows] = view[:windows]
                filled, empty_shards = filled + windows, 0
            consumed = windows * length
            if len(piece) == wanted:  # the shard had enough: the request is complete
                state["offset"] += consumed - len(buffer)
                state["buffer"] = np.empty(0, np.int32)
                continue
            # The shard is used up: carry its tail into the next one.
            state["buffer"] = tokens[consumed:].copy()
            state["offset"], state["shard"] = 0, state["shard"] + 1
            if state["shard"] == len(self.shards):
                state["epoch"], state["shard"] = state["epoch"] + 1, 0
            empty_shards += 1
            if empty_shards > len(self.shards):
                raise ShardError(
                    f"{self.shards[0].parent}: fewer than seq_len + 1 = {length + 1} tokens in all shards"
                )
        return out


@dataclass
class Batch:
    """One optimizer step's data for one rank: (accumulation, micro_batch, seq_len) each, and
    `count`, the targets of the whole global batch (every rank's), that the loss is divided by."""

    inputs: torch.Tensor
    targets: torch.Tensor
    count: float
    state: dict[str, Any]

    def micro_batches(self) -> list[dict[str, torch.Tensor]]:
        return [
            {"inputs": inputs, "targets": targets}
            for inputs, targets in zip(self.inputs, self.targets, strict=True)
        ]


class Loader:
    """Global batches from weighted runs, this rank's slice, prepared in a background thread."""

    def __init__(
        self,
        runs: list[tuple[list[Location], float]],
        seq_len: int,
        sequences_per_step: int,
        micro_batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        prefetch: int = 4,
        state: dict | None = None,
        pin_memory: bool = False,
    ):
        self.pin_memory = pin_memory
        self.weights = np.array([weight for _, weight in runs], np.float64)
        self.sequences, self.micro = sequences_per_step, micro_batch_size
        self.rank, self.world = rank, world_size
        state = state or {}
        self.streams = [
            TokenStream(
                shards, seq_len, seed + index, (state.get("runs") or [None] * len(runs))[index]
            )
            for index, (shards, _) in enumerate(runs)
        ]
        self.credits = np.array(state.get("credits", np.zeros(len(runs))), np.float64)
        self.state = self._snapshot()
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _snapshot(self) -> dict[str, Any]:
        return {
            "runs": [copy.deepcopy(s.state) for s in self.streams],
            "credits": self.credits.copy(),
        }

    def _pick_runs(self, count: int) -> np.ndarray:
        """Smooth weighted round-robin: which run each of `count` slots draws from."""
        picks = np.empty(count, np.int64)
        total = self.weights.sum()
        for slot in range(count):
            self.credits += self.weights
            picks[slot] = int(np.argmax(self.credits))
            self.credits[picks[slot]] -= total
        return picks

    def global_windows(self) -> np.ndarray:
        """The next global batch: (sequences_per_step, seq_len + 1)."""
        if len(self.streams) == 1:
            return self.streams[0].take(self.sequences)
        picks = self._pick_runs(self.sequences)
        windows = np.empty((self.sequences, self.streams[0].seq_len + 1), np.int32)
        for index, stream in enumerate(self.streams):
            slots = np.flatnonzero(picks == index)
            if len(slots):
                windows[slots] = stream.take(len(slots))
        return windows

    def next_batch(self) -> Batch:
        """Compute the next batch in the calling thread (the prefetch thread runs this)."""
        per_rank = self.sequences // self.world
        mine = self.global_windows()[self.rank * per_rank : (self.rank + 1) * per_rank]
        tensor = torch.from_numpy(mine.astype(np.int64)).view(-1, self.micro, mine.shape[1])
        inputs, targets = tensor[..., :-1].contiguous(), tensor[..., 1:].contiguous()
        if self.pin_memory:  # so that copies to the GPU are asynchronous (non_blocking=True)
            inputs, targets = inputs.pin_memory(), targets.pin_memory()
        count = float(self.sequences * targets.shape[-1])
        return Batch(inputs, targets, count, self._snapshot())

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                self._hand_over(self.next_batch())
        except BaseException as err:  # handed to the consumer, raised there
            self._hand_over(err)

    def _hand_over(self, item: Batch | BaseException) -> None:
        """Queue `item` for the consumer, unless the loader is closed first: nothing takes
        items then, and a full queue blocked this thread, and `close`, for ever."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, daemon=True, name="loader")
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        self.state = item.state
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def validation_windows(
    runs: list[Location], seq_len: int, max_tokens: int
) -> dict[str, torch.Tensor]:
    """Per source, up to `max_tokens` of its validation tokens as (n, seq_len + 1) windows."""
    by_source: dict[str, list[np.ndarray]] = {}
    for run in runs:
        for shard in val_shards(run):
            table = read_parquet(shard, ["source", "input_ids"])
            for source in pc.unique(table.column("source")).to_pylist():
                rows = table.filter(pc.equal(table.column("source"), source)).column("input_ids")
                if rows.num_chunks:
                    flat = rows.combine_chunks().values.to_numpy(zero_copy_only=False)
                    by_source.setdefault(source, []).append(flat.astype(np.int64))
    windows = {}
    for source, parts in sorted(by_source.items()):
        tokens = np.concatenate(parts)[: max_tokens + 1]
        count = (len(tokens) - 1) // seq_len
        if count:
            view = np.lib.stride_tricks.sliding_window_view(tokens, seq_len + 1)[::seq_len]
            windows[source] = torch.from_numpy(view[:count].copy())
    return windows
