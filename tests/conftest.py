from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cluster import ray_session
from pipeline.config import ExecutionConfig, JobConfig, validate_config
from pipeline.plan import RunSummary, run_job
from support.corpora import CORPORA
from support.warcs import html_page, page_record, write_warc

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

# Every Ray the tests start (embedded runs, subprocesses, the test cluster) takes this
# session's own token, so Ray neither reads nor writes the user's ~/.ray/auth_token, and
# no test joins the cluster a user's RAY_ADDRESS names.
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
os.environ.pop("RAY_ADDRESS", None)

CLI = [sys.executable, "-m", "pipeline.cli"]
"""`tokenmill`, as the trainer's tests start it in a process of its own."""
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run_cli(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """`tokenmill ARGS` in a process of its own, what it prints captured as text."""
    return subprocess.run([*CLI, *args], env=ENV, capture_output=True, text=True, timeout=timeout)


def pytest_collection_modifyitems(items) -> None:
    """Tests on a real local Ray are `ray`, on the shared corpora `corpora`; both `slow`, so
    `pytest -m "not slow"` is a loop of the fast ones."""
    for item in items:
        fixtures = set(item.fixturenames)
        if "local_ray" in fixtures:
            item.add_marker(pytest.mark.ray)
        if fixtures & {"corpora", "trafilatura_pages"}:
            item.add_marker(pytest.mark.corpora)
        if item.get_closest_marker("ray") or item.get_closest_marker("corpora"):
            item.add_marker(pytest.mark.slow)


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """`folder` as a tmpfs of `size` (`40k`), a disk that fills up; the test is skipped where
    this machine cannot mount one (not root). `remount,size=N` on it grows it."""
    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not (CORPORA / "web").is_dir():
        pytest.skip(f"shared corpora not found at {CORPORA} (set TOKENMILL_CORPORA)")
    return CORPORA


@pytest.fixture(scope="session")
def local_ray():
    """One real local Ray with 2 worker CPUs for the whole session, started as a run starts
    its embedded Ray."""
    import ray

    with ray_session(ExecutionConfig(workers=2, object_store_mb=256)):
        yield ray


def job(output: Path, inputs: list[dict], stages: list | None = None, **extra) -> JobConfig:
    data = {"name": "test", "output": str(output), "inputs": inputs, "stages": stages or []}
    return validate_config({**data, **extra})


def output_once_ended(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """`process.communicate(timeout=timeout)`. A process still running then is killed and
    the test fails with where each of its threads stood (py-spy), so that a rare hang says
    where it hangs: a test that only timed out left a guess."""
    with suppress(subprocess.TimeoutExpired):
        return process.communicate(timeout=timeout)
    py_spy = Path(sys.executable).with_name("py-spy")
    threads = subprocess.run(
        [str(py_spy), "dump", "--pid", str(process.pid)], capture_output=True, text=True, timeout=60
    )
    process.kill()
    _, stderr = process.communicate()
    pytest.fail(
        f"{process.args} still ran {timeout} s later; its threads then:\n{threads.stdout}"
        f"{threads.stderr}\nits stderr:\n{(stderr or '')[-3000:]}",
        pytrace=False,
    )


def training_after_two_steps(command: list[str], run: Path, **popen) -> subprocess.Popen:
    """A training `command` started with SIGINT acting as on a terminal (a suite started in
    the background ignores it), once RUN/metrics.jsonl has logged two steps."""
    training = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen,
    )
    metrics = run / "metrics.jsonl"
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert training.poll() is None, training.stderr.read()[-3000:]
        time.sleep(0.1)
    return training


def run(config: JobConfig, **kwargs) -> RunSummary:
    summary = run_job(config, **kwargs)
    assert summary.report["conservation_problems"] == []
    return summary


def write_crawl(folder: Path, shards: int = 6, pages: int = 40) -> None:
    """`shards` WARCs of `pages` distinct article pages each, `crawl-N.warc.gz` in `folder`:
    a run of several shards, each taking a moment to extract."""
    bodies = [html_page(f"Report {n}", paragraphs=12).encode() for n in range(pages)]
    for shard in range(shards):
        records = [page_record(shard * 100 + n, body=body) for n, body in enumerate(bodies)]
        write_warc(folder / f"crawl-{shard}.warc.gz", records)


def finished_shards(state: Path) -> list[Path]:
    """Shard states written in full: a kill can leave one under its temporary name."""
    return [path for path in state.glob("*.json") if not path.name.startswith(".tmp-")]


def read_documents(output: Path, folder: str = "documents") -> list[dict]:
    files = sorted((output / folder).glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def funnel(summary: RunSummary) -> dict[str, dict]:
    return {entry["stage"]: entry for entry in summary.report["funnel"]}


@pytest.fixture(scope="session")
def trafilatura_pages(corpora):
    """The trafilatura evaluation pages through our `extract` stage (trafilatura engine)."""
    from support.extracted_pages import extracted_pages

    return extracted_pages(corpora / "web" / "trafilatura-eval.warc.gz")


class FileServer(SimpleHTTPRequestHandler):
    """Python's file server, quiet, answering the next requests of a path with the statuses
    queued in `refusals[path]` (as Common Crawl's server answers 503 under load)."""

    refusals: defaultdict[str, list[int]]

    def log_message(self, *args) -> None:
        """No line per request in the tests' output."""

    def send_head(self):
        if self.refusals[self.path]:
            self.send_error(self.refusals[self.path].pop(0))
            return None
        return super().send_head()


@pytest.fixture
def http_folder(tmp_path) -> Iterator[tuple[Path, str, defaultdict[str, list[int]]]]:
    """A folder, the loopback HTTP URL it is served at (by a server that, as some do,
    ignores range requests) and the statuses to refuse its paths' next requests with."""
    refusals = defaultdict(list)
    handler = type("Handler", (FileServer,), {"refusals": refusals})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}", refusals
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3-compatible server on a free loopback port; fsspec's s3 pointed at it."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    import fsspec

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "moto server did not start"
            time.sleep(0.1)
    saved = dict(os.environ), fsspec.config.conf.get("s3")
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    fsspec.config.conf["s3"] = {"endpoint_url": f"http://127.0.0.1:{port}"}
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("tokenmill-test")
    yield "s3://tokenmill-test"
    server.kill()
    server.wait()
    os.environ.clear()
    os.environ.update(saved[0])
    fsspec.config.conf.pop("s3")
    if saved[1] is not None:
        fsspec.config.conf["s3"] = saved[1]
