"""A real Ray head for the tests that need a cluster (test_cluster, test_service_cluster):
`ray start --head` on loopback with token authentication, its own temp dir and free ports,
started from a folder other than the checkout, and stopped by its own processes, never by
Ray's stop-everything command, which would end other sessions' clusters too."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Head:
    gcs: str
    client: str
    dashboard: str
    temp_dir: Path
    env: dict[str, str]
    """What a process needs to reach it: token authentication and this Python first on PATH."""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def processes_of(folder: Path, temp_dir: Path | None = None) -> set[int]:
    """The processes of a head: those whose command line names its temp dir or that run in
    the folder `ray start` ran in (Ray Client's server names no temp dir), and all their
    descendants. Without `temp_dir`, those of the folder alone (a second node's)."""
    table = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cwd = os.readlink(entry / "cwd")
            except (OSError, ValueError, IndexError):
                continue
            named = temp_dir is not None and str(temp_dir) in command
            table.append((int(entry.name), parent, named or cwd == str(folder)))
    chosen = {pid for pid, _, ours in table if ours and pid != os.getpid()}
    while more := {pid for pid, parent, _ in table if parent in chosen} - chosen:
        chosen |= more
    return chosen


def stop_processes(pids: set[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(2)


@contextmanager
def ray_head(tmp_path_factory) -> Iterator[Head]:
    """A head started for a test module, stopped by its own processes when it ends."""
    # Named as Ray names its default temp dir (TMPDIR/ray), so that a process with this
    # TMPDIR finds the head as "the cluster of this machine", as it would find /tmp/ray's.
    temp_dir = tmp_path_factory.mktemp("tmp") / "ray"
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # not the checkout: workers start here
    # Every port Ray would otherwise take at a fixed default (6379, 10001, 8265, 52365) is
    # a free one, so this head meets no other Ray on the machine; worker ports are Ray's
    # default range, below the kernel's range for the free ones.
    gcs, client, dashboard, agent = free_ports(4)
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    started = subprocess.run(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={gcs}",
            f"--ray-client-server-port={client}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            f"--temp-dir={temp_dir}",
            "--num-cpus=2",
            "--object-store-memory=150000000",
            f"--dashboard-agent-listen-port={agent}",
            "--disable-usage-stats",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield Head(
            f"127.0.0.1:{gcs}",
            f"ray://127.0.0.1:{client}",
            f"http://127.0.0.1:{dashboard}",
            temp_dir,
            env,
        )
    finally:
        stop_processes(processes_of(elsewhere, temp_dir))


def can_hide_folders() -> bool:
    """Whether this process may make mount namespaces (root, or a user namespace's)."""
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@contextmanager
def second_node(head: Head, folder: Path, hidden: Path) -> Iterator[None]:
    """Another node of `head` on this machine, started in `folder`, to which `hidden` is an
    empty folder of its own (a tmpfs over it, in a mount namespace of its own), as to a
    machine that does not share the file system `hidden` is on. Its Ray temp dir is its own
    too, as another machine's is: sharing the head's, a Ray Job's entrypoint on the head lost
    its working dir mid-run (both nodes' runtime-env agents then keep the one folder)."""
    node_manager, object_manager, agent, agent_grpc, metrics, runtime_env = free_ports(6)
    start = [
        "ray",
        "start",
        f"--address={head.gcs}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--object-store-memory=100000000",
        f"--node-manager-port={node_manager}",
        f"--object-manager-port={object_manager}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}",
        # Workers on ports the kernel picks, as Ray's own multi-node test cluster does: in
        # the default range they could take a port of the head's workers.
        "--min-worker-port=0",
        "--max-worker-port=0",
        "--disable-usage-stats",
    ]
    script = (
        f"mount -t tmpfs -o size=16m tmpfs '{hidden}' && "
        f"mount -t tmpfs -o size=256m tmpfs '{head.temp_dir}' && exec {' '.join(start)}"
    )
    started = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        cwd=folder,
        env=head.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield
    finally:
        stop_processes(processes_of(folder))
