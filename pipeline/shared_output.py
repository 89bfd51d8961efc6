"""Whether a local output folder is the same folder on every node of a joined cluster.

Shard tasks write their segments on the node they run on, and the next phase's tasks,
on any node, read them. A local path that is each machine's own disk (no shared file
system), or the disk of a Ray Client's machine, failed the run only at the first phase, on
a `No such file` that did not say why. Before any work, each node that runs tasks is
asked to read a file the driver just wrote there.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from pipeline.output import RunOutput
from pipeline.schema import ConfigError

CHECK = ("_state", "shared-check")
ANSWER_SECONDS = 60
"""A node that has not answered by then (busy with another job's actors) is not judged."""


def refuse_unshared_output(output: RunOutput) -> None:
    """A ConfigError when a node that runs tasks does not see what the driver wrote in the
    output folder; object storage is shared by nature."""
    if not output.is_local:
        return
    token = secrets.token_hex(16)
    with output.atomic(*CHECK) as handle:
        handle.write(token.encode())
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    answers = {
        _reads_check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(output.path(*CHECK), token): node
        for node in nodes
    }
    ready, _ = ray.wait(list(answers), num_returns=len(answers), timeout=ANSWER_SECONDS)
    blind = [answers[ref] for ref in ready if not ray.get(ref)]
    output.remove(*CHECK)
    if blind:
        where = ", ".join(f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n in blind)
        raise ConfigError(
            f"output: {output.path()} is not the same folder on every node: {len(blind)} of "
            f"{len(nodes)} nodes ({where}) do not find a file this machine wrote there; a "
            "cluster's nodes need the output on a shared file system or in object storage "
            "(s3://, gs://)"
        )


@ray.remote(num_cpus=0, max_retries=0)
def _reads_check(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except (OSError, UnicodeDecodeError):
        return False
