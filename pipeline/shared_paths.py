"""Whether the local paths a run writes and reads are the same on every node of a joined
cluster.

Shard tasks write their segments on the node they run on, and the next phase's tasks, on
any node, read them; training ranks write their parts of a checkpoint; every node loads the
stages' models. A local path that is each machine's own disk (no shared file system), or
the disk of a Ray Client's machine, failed a run at its first phase on a `No such file`
that did not say why, or errored every document of the shards a node ran (a model it did
not have), which a run passes when that is under `execution.max_errored_share`. Before any
work, each node that runs tasks reads a file the driver just wrote in the output folder and
finds each file the config names with the size it has here.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from pipeline.output import RunOutput
from pipeline.schema import ConfigError, files_in

if TYPE_CHECKING:
    from pipeline.config import JobConfig

OUTPUT_CHECK = ("_state", "shared-check")
FOLDER_CHECK = ".tokenmill-shared-check"
ANSWER_SECONDS = 60
"""A node that has not answered by then (busy with another job's actors) is not judged."""


@dataclass(frozen=True)
class Expected:
    """What a node must find at `path`: `token` as its text (a folder's check file, then
    `shown` is the folder), else a file of `size` bytes."""

    key: str
    path: str
    shown: str
    size: int = 0
    token: str | None = None

    def found(self) -> bool:
        try:
            if self.token is not None:
                return Path(self.path).read_text(encoding="utf-8") == self.token
            return os.stat(self.path).st_size == self.size
        except (OSError, UnicodeDecodeError):
            return False

    def refusal(self, blind: list[dict], nodes: int) -> ConfigError:
        where = ", ".join(f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n in blind)
        if self.token is not None:
            what, seen, where_it_goes = (
                "folder",
                "do not find a file this machine wrote there",
                "on a shared file system",
            )
        else:
            what, seen, where_it_goes = (
                "file",
                f"do not find it with its {self.size:,} bytes",
                "at this path on each (a shared file system, or the same copy on every node)",
            )
        return ConfigError(
            f"{self.key}: {self.shown} is not the same {what} on every node: {len(blind)} of "
            f"{nodes} nodes ({where}) {seen}; a cluster's nodes need it {where_it_goes} or in "
            "object storage (s3://, gs://)"
        )


def refuse_unshared_run(config: JobConfig, output: RunOutput) -> None:
    """A ConfigError when a node does not see the run's output folder, or a local file a
    stage or the tokenizer reads, as this machine does; URLs are shared by nature."""
    sections = [(f"stages.{spec.name}", spec.params) for spec in config.stages]
    sections += [("tokenizer", config.tokenizer)] if config.tokenizer is not None else []
    expected = [
        _local_file(key, path)
        for key, section in sections
        for path in files_in(section)
        if "://" not in path
    ]
    if not output.is_local:
        _refuse_blind_nodes(expected)
        return
    token = secrets.token_hex(16)
    with output.atomic(*OUTPUT_CHECK) as handle:
        handle.write(token.encode())
    try:
        check = Expected("output", output.path(*OUTPUT_CHECK), output.path(), token=token)
        _refuse_blind_nodes([check, *expected])
    finally:
        output.remove(*OUTPUT_CHECK)


def refuse_unshared_training(written: dict[str, Path], read: dict[str, str]) -> None:
    """The same for a training run: the local folders its ranks write, and the local
    files they read, by config key."""
    token = secrets.token_hex(16)
    checks = {key: folder / FOLDER_CHECK for key, folder in written.items()}
    for check in checks.values():
        check.parent.mkdir(parents=True, exist_ok=True)
        check.write_text(token, encoding="utf-8")
    try:
        _refuse_blind_nodes(
            [
                Expected(key, str(check), str(check.parent), token=token)
                for key, check in checks.items()
            ]
            + [_local_file(key, path) for key, path in read.items()]
        )
    finally:
        for check in checks.values():
            check.unlink(missing_ok=True)


def _local_file(key: str, path: str) -> Expected:
    return Expected(key, path, path, size=os.stat(path).st_size)


def _refuse_blind_nodes(expected: list[Expected]) -> None:
    if not expected:
        return
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    answers = {
        _missing.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(expected): node
        for node in nodes
    }
    ready, _ = ray.wait(list(answers), num_returns=len(answers), timeout=ANSWER_SECONDS)
    missing = {ref: set(ray.get(ref)) for ref in ready}
    for index, item in enumerate(expected):
        blind = [answers[ref] for ref in ready if index in missing[ref]]
        if blind:
            raise item.refusal(blind, len(nodes))


@ray.remote(num_cpus=0, max_retries=0)
def _missing(expected: list[Expected]) -> list[int]:
    """The indexes of what this node does not find as expected."""
    return [index for index, item in enumerate(expected) if not item.found()]
