"""Starting or joining Ray: an embedded local Ray sized for the machine, or a cluster.

Without an address a run starts its own local Ray (`address="local"`), with as many worker
CPUs as configured (default: all) and a bounded object store, no dashboard, and never joins
another Ray on the machine. With `--address`, or `RAY_ADDRESS` (which a Ray Job's entrypoint
has), it joins a cluster: `ray://HOST:10001` (Ray Client), `HOST:6379` (a driver on a node of
the cluster) or `auto` (the cluster of this node). Joining ships this checkout's packages as
folders Ray packages and uploads (`py_modules`), so workers run the driver's code, unless
the driver already runs inside a Ray Job, whose runtime environment brought them.

Ray's token authentication is the environment's: `RAY_AUTH_MODE=token` and the cluster's
token in `RAY_AUTH_TOKEN`, or in the file `RAY_AUTH_TOKEN_PATH` names (default
`~/.ray/auth_token`). A cluster that cannot be reached or refuses the token is a one-line
error that says so.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import ray

from pipeline.config import ExecutionConfig
from pipeline.schema import ConfigError
from pipeline.termination import sigterm_handler_kept

PACKAGES = ("pipeline", "filters", "dedup", "mixing", "tokenizer", "trainer")
SOURCE = Path(__file__).resolve().parent.parent
"""The folder that holds the packages (a checkout, or site-packages)."""
MONITOR = "monitor"
"""Ray's name for its autoscaler monitor process (`ray_constants.PROCESS_TYPE_MONITOR`)."""
TOKEN_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"
"""The logger of Ray's module that turns token authentication on for a new local cluster."""
TOKEN_HELP = (
    "a cluster with token authentication needs RAY_AUTH_MODE=token and its token in "
    "RAY_AUTH_TOKEN or in the file RAY_AUTH_TOKEN_PATH names (default ~/.ray/auth_token)"
)


def cluster_address(address: str | None) -> str | None:
    """The cluster to join: `--address`, else `RAY_ADDRESS`; None for an embedded Ray."""
    return address or os.environ.get("RAY_ADDRESS") or None


def shipped_code() -> dict[str, list[str]]:
    """The runtime environment that brings this code to a cluster's workers."""
    return {"py_modules": [str(SOURCE / name) for name in PACKAGES]}


def inside_ray_job() -> bool:
    """Whether this process is a Ray Job's entrypoint (its job brought the code)."""
    return "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ


@contextmanager
def ray_session(execution: ExecutionConfig, address: str | None = None) -> Iterator[int]:
    """Ray for the duration of a run; yields the number of shard tasks to run at once.
    SIGTERM is handled as before Ray started (Ray's own handler exits with status 15)."""
    address = cluster_address(address)
    with joined(address) if address or ray.is_initialized() else _local_ray(execution):
        yield execution.workers or int(ray.cluster_resources().get("CPU", 1))


@contextmanager
def _local_ray(execution: ExecutionConfig) -> Iterator[None]:
    _refuse_unfit_object_store(execution.object_store_mb)
    with _without_api_server(), _without_token_auth_notice(), _sigterm_handler_kept_starting():
        ray.init(
            address="local",
            num_cpus=execution.workers or os.cpu_count() or 1,
            object_store_memory=execution.object_store_mb << 20,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,
        )
    try:
        yield
    finally:
        _stop_autoscaler_monitor()
        with sigterm_handler_kept():
            ray.shutdown()


def _refuse_unfit_object_store(megabytes: int) -> None:
    """Ray refuses to start where its object store leaves tasks less than 5 % of the
    machine's memory, with a traceback that names `ray.init`'s arguments; this says so of
    the config's key."""
    memory = psutil.virtual_memory()
    if (memory.available >> 20) - megabytes < 0.05 * (memory.total >> 20):
        raise ConfigError(
            f"execution.object_store_mb: {megabytes:,} MB leaves Ray's tasks no memory on this "
            f"machine, where {memory.available >> 20:,} MB of {memory.total >> 20:,} MB is "
            "available (the default, 1,024 MB, suits most runs)"
        )


@contextmanager
def _without_api_server() -> Iterator[None]:
    """Start the embedded Ray without its API server (the dashboard's head process). With
    `include_dashboard=False` that process serves only Ray's usage statistics, yet
    `ray.init` waits for it to come up: on two cores `ray.init` took 2.4 s with it and 1.9 s
    without (medians of 4), and the process is held for the run. The dashboard agent then
    notes once a second, in Ray's session log, that it finds no dashboard to report events
    to. This replaces Ray's private function that starts the process: should a later Ray
    start it elsewhere, it starts as before."""
    from ray._private import services

    start = getattr(services, "start_api_server", None)
    if start is None:
        yield
        return
    services.start_api_server = _no_api_server
    try:
        yield
    finally:
        services.start_api_server = start


@contextmanager
def _without_token_auth_notice() -> Iterator[None]:
    """Start the embedded Ray without its warning that it turned token authentication on.
    Ray turns it on for every new local cluster unless `RAY_AUTH_MODE` says otherwise, and
    says so at the top of every run's output, about a Ray that lives only as long as the
    run and that nobody else joins. Authentication stays on; only the line goes."""
    logger = logging.getLogger(TOKEN_SETUP_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _sigterm_handler_kept_starting() -> Iterator[None]:
    """Start or join Ray keeping the SIGTERM handler (the CLI's: Ctrl-C's). `ray.init` sets
    one that exits with status 15 and prints nothing, a new local node one that kills its
    processes and exits with 1, and the core worker's native code one that prints `***
    SIGTERM received` and a stack address: a `kill` in the seconds Ray takes to start, at
    the start of every run, ended it silently. Ray's private function that sets the first
    two does nothing meanwhile (should a later Ray set them otherwise, they are set), and
    the handler from before is set again after."""
    from ray._private import utils

    set_handler = getattr(utils, "set_sigterm_handler", None)
    with sigterm_handler_kept():
        if set_handler is None:
            yield
            return
        utils.set_sigterm_handler = _no_handler
        try:
            yield
        finally:
            utils.set_sigterm_handler = set_handler


def _no_handler(handler: object) -> None:
    """What `set_sigterm_handler` does now: nothing."""


def _no_api_server(*args, **kwargs) -> tuple[None, None]:
    """What `start_api_server` returns when it started nothing: no URL, no process."""
    return None, None


def _stop_autoscaler_monitor() -> None:
    """Kill the embedded Ray's autoscaler monitor, which `ray.shutdown()` would wait a
    second for in every local run: shutdown stops the GCS first, and the monitor answers
    the SIGTERM that follows by reporting to that GCS until shutdown kills it, a second
    later. An embedded Ray has nothing to autoscale, and SIGKILL runs no handler. This reads
    Ray's private record of the processes it started: should a later Ray keep it elsewhere,
    nothing is killed and shutdown waits as before."""
    node = getattr(ray._private.worker, "_global_node", None)
    for info in getattr(node, "all_processes", {}).get(MONITOR, []):
        info.process.kill()
        info.process.wait()


CLIENT_SERVER_FAILED = "Starting Ray client server failed"
"""What Ray Client's proxy says when the server it starts for this client dies at once; it
happens now and then on a busy head, and a second try starts a new one."""


NO_CLUSTER = "Could not find any running Ray instance"
"""What `ray.init(address="auto")` says where no cluster runs on this machine."""


def join(address: str, tries: int = 2) -> None:
    """Connect to the cluster at `address`, shipping the code unless a Ray Job did."""
    refuse_silent_address(address)
    runtime_env = job_runtime_env(address)
    for attempt in range(1, tries + 1):
        try:
            with _sigterm_handler_kept_starting():
                ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING)
            return
        except (ConnectionError, TimeoutError, ray.exceptions.AuthenticationError) as err:
            if CLIENT_SERVER_FAILED in str(err) and attempt < tries:
                continue
            message = f"--address {address}: cannot join the cluster ({err})"
            raise ConfigError(message + _join_help(str(err))) from None


@contextmanager
def joined(address: str | None) -> Iterator[None]:
    """This process on the cluster at `address` until the block ends. Within a block that
    started or joined Ray already, that Ray serves (and `address` may be None)."""
    if ray.is_initialized():
        yield
        return
    join(address)
    try:
        yield
    finally:
        with sigterm_handler_kept():
            ray.shutdown()


def job_runtime_env(address: str) -> dict | None:
    """What this job's workers get: the code (unless a Ray Job brought it), and the cluster's
    address where it is a GCS one. Ray's own actors look the cluster up by it: Ray Train's
    PlacementGroupCleaner calls the state API without an address, and on a node with two
    Rays (a test's beside a `ray start` head) it cannot choose and prints a traceback."""
    runtime_env: dict = {} if inside_ray_job() else shipped_code()
    if "://" not in address and address != "auto":
        runtime_env["env_vars"] = {"RAY_ADDRESS": address}
    return runtime_env or None


def _join_help(error: str) -> str:
    if NO_CLUSTER in error:
        return (
            "; start one (ray start --head), or leave --address and RAY_ADDRESS out to run "
            "on an embedded Ray"
        )
    return "" if CLIENT_SERVER_FAILED in error else f"; {TOKEN_HELP}"


DEFAULT_PORTS = {"ray": 10001, "http": 8265, "https": 8265, "": 6379}
"""Where a cluster's head listens by default: Ray Client, the Jobs API, the GCS."""


def refuse_silent_address(address: str) -> None:
    """Ray retries a GCS address where nothing answers for ever, a line of warnings every
    few seconds, and Ray Client and the Jobs API wait or fail naming neither cause; a head
    that is not there (or a wrong port) is one line instead."""
    scheme = address.partition("://")[0] if "://" in address else ""
    parts = urllib.parse.urlsplit(address if scheme else f"//{address}")
    try:
        port = parts.port
    except ValueError:  # not a number: left to Ray to refuse
        return
    if scheme not in DEFAULT_PORTS or not parts.hostname or port is None:  # `auto`
        return
    try:
        socket.create_connection((parts.hostname, port), timeout=10).close()
    except OSError as err:
        raise ConfigError(
            f"--address {address}: nothing answers there ({err.strerror or err}); is the "
            f"cluster's head running (ray start --head), and is {port} its port "
            f"({DEFAULT_PORTS[scheme]} by default)?"
        ) from None
