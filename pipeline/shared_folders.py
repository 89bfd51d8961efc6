"""Whether a local folder is the same folder on every node of a joined cluster.

Shard tasks write their segments on the node they run on, and the next phase's tasks, on
any node, read them; training ranks write their parts of a checkpoint. A local path that is
each machine's own disk (no shared file system), or the disk of a Ray Client's machine,
failed a run only at its first phase, on a `No such file` that did not say why, and would
split a checkpoint across machines. Before any work, each node that runs tasks is asked to
read a file the driver just wrote there.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from pipeline.output import RunOutput
from pipeline.schema import ConfigError

OUTPUT_CHECK = ("_state", "shared-check")
FOLDER_CHECK = ".tokenmill-shared-check"
ANSWER_SECONDS = 60
"""A node that has not answered by then (busy with another job's actors) is not judged."""


def refuse_unshared_output(output: RunOutput) -> None:
    """A ConfigError when a node does not see what the driver wrote in a run's output
    folder; object storage is shared by nature."""
    if not output.is_local:
        return
    token = secrets.token_hex(16)
    with output.atomic(*OUTPUT_CHECK) as handle:
        handle.write(token.encode())
    try:
        _refuse_blind_nodes("output", output.path(), output.path(*OUTPUT_CHECK), token)
    finally:
        output.remove(*OUTPUT_CHECK)


def refuse_unshared_folder(key: str, folder: Path) -> None:
    """The same for a local folder of a training run (`key` names it in the error)."""
    token = secrets.token_hex(16)
    check = folder / FOLDER_CHECK
    check.write_text(token)
    try:
        _refuse_blind_nodes(key, str(folder), str(check), token)
    finally:
        check.unlink(missing_ok=True)


def _refuse_blind_nodes(key: str, folder: str, check: str, token: str) -> None:
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    answers = {
        _reads_check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(check, token): node
        for node in nodes
    }
    ready, _ = ray.wait(list(answers), num_returns=len(answers), timeout=ANSWER_SECONDS)
    blind = [answers[ref] for ref in ready if not ray.get(ref)]
    if blind:
        where = ", ".join(f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n in blind)
        raise ConfigError(
            f"{key}: {folder} is not the same folder on every node: {len(blind)} of "
            f"{len(nodes)} nodes ({where}) do not find a file this machine wrote there; a "
            "cluster's nodes need it on a shared file system or in object storage "
            "(s3://, gs://)"
        )


@ray.remote(num_cpus=0, max_retries=0)
def _reads_check(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except (OSError, UnicodeDecodeError):
        return False
