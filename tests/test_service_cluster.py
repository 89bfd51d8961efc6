"""`tokenmill serve` for real: a Ray head with token authentication (tests/ray_head.py), the
service as its own process on a loopback port, and curl's part played by httpx. A one-WARC
config goes in over HTTP and runs to SUCCEEDED while the service is restarted, its report
comes back, the job is still listed with its submitter, and a stopped job shows STOPPED."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT, SAMPLE
from tests.ray_head import Head, free_ports, ray_head

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TOKEN = "alice-token"
ALICE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def head(tmp_path_factory) -> Iterator[Head]:
    with ray_head(tmp_path_factory) as started:
        yield started


@contextmanager
def serving(head: Head, folder: Path) -> Iterator[httpx.Client]:
    """The service on a free loopback port, its store in `folder`, jobs allowed to read the
    sample data and write in `folder`; stopped (SIGTERM, as uvicorn expects) on leaving."""
    [port] = free_ports(1)
    env = {**head.env, "TOKENMILL_SERVICE_TOKENS": f"alice={TOKEN}"}
    command = [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)]
    command += ["--address", head.dashboard, "--store", f"sqlite:///{folder / 'jobs.db'}"]
    command += ["--allow-root", str(SAMPLE), "--allow-root", str(folder)]
    log = (folder / f"service-{port}.log").open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=ALICE, timeout=60)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (folder / log.name).read_text()[-3000:]
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.3)
        yield client
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)
        log.close()


def one_warc(output: Path) -> str:
    return yaml.safe_dump(
        {
            "name": "served",
            "output": str(output),
            "inputs": [
                {"source": "web", "format": "warc", "paths": [str(SAMPLE / "web-000.warc.gz")]}
            ],
            "stages": [{"extract": {}}, {"dedup": {"exact": True}}],
            "execution": {"workers": 2},
        }
    )


def wait_for(client: httpx.Client, job: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while (found := client.get(f"/jobs/{job}").json())["status"] not in (
        "SUCCEEDED",
        "FAILED",
        "STOPPED",
    ):
        assert time.monotonic() < deadline, found
        time.sleep(1)
    return found


def test_a_job_submitted_over_http_runs_through_a_restart_and_serves_its_report(head, tmp_path):
    with serving(head, tmp_path) as client:
        submitted = client.post(
            "/jobs", content=one_warc(tmp_path / "run"), headers={"Idempotency-Key": "one"}
        )
        assert submitted.status_code == 201, submitted.text
        job = submitted.json()["id"]
        halted = client.post("/jobs", content=one_warc(tmp_path / "halted")).json()["id"]
        assert client.post(f"/jobs/{halted}/stop").status_code == 200
        assert client.get(f"/jobs/{job}").json()["status"] in ("PENDING", "RUNNING")
    with serving(head, tmp_path) as client:  # restarted while the job runs: it re-attaches
        finished = wait_for(client, job)
        assert finished["status"] == "SUCCEEDED", client.get(f"/jobs/{job}/logs").text[-3000:]
        assert wait_for(client, halted)["status"] == "STOPPED"
        report = client.get(f"/jobs/{job}/report")
        assert report.status_code == 200 and "<html" in report.text.lower()
        assert "report.json" in client.get(f"/jobs/{job}/logs").text
        again = client.post(
            "/jobs", content=one_warc(tmp_path / "run"), headers={"Idempotency-Key": "one"}
        )
        assert (again.status_code, again.json()["id"]) == (200, job)
    with serving(head, tmp_path) as client:
        listed = {entry["id"]: entry for entry in client.get("/jobs").json()}
        assert listed[job]["submitter"] == "alice" and listed[job]["status"] == "SUCCEEDED"
        assert listed[halted]["status"] == "STOPPED"
        metrics = client.get("/metrics").text
        assert 'tokenmill_jobs{status="SUCCEEDED"} 1.0' in metrics
        assert 'tokenmill_jobs{status="STOPPED"} 1.0' in metrics
        assert client.get("/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert os.path.isfile(tmp_path / "run" / "report" / "report.html")
