"""`tokenmill serve` for real: a Ray head with token authentication (tests/ray_head.py), the
service as its own process on a loopback port, and curl's part played by httpx.

One head serves the module. The tests of single requests (authentication, validation, the
allowed roots, the body limit, idempotency, a training job, the OpenAPI document) share one
service; the jobs they start are stopped at once. The end-to-end test has its own store, so
that it knows every job in it: a one-WARC config goes in over HTTP, a restarted service
follows it while it runs, it finishes while no service runs and the next one takes its
status from Ray, its report and logs come back (and nothing outside the report), and
/metrics counts the store's jobs by status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT, SAMPLE
from tests.ray_head import Head, free_ports, ray_head

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TOKENS = "alice=alice-token,bob=bob-token"
ALICE = {"Authorization": "Bearer alice-token"}
BOB = {"Authorization": "Bearer bob-token"}
WARC = SAMPLE / "web-000.warc.gz"
BODY_LIMIT = 1000
FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")


@pytest.fixture(scope="module")
def head(tmp_path_factory) -> Iterator[Head]:
    with ray_head(tmp_path_factory) as started:
        yield started


@contextmanager
def serving(head: Head, store: Path, root: Path, *options: str) -> Iterator[httpx.Client]:
    """The service on a free loopback port, its store and log in `store`, jobs allowed to
    read and write under `root` only; stopped (SIGTERM, as uvicorn expects) on leaving."""
    [port] = free_ports(1)
    env = {**head.env, "TOKENMILL_SERVICE_TOKENS": TOKENS}
    command = [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)]
    command += ["--address", head.dashboard, "--store", f"sqlite:///{store / 'jobs.db'}"]
    command += ["--allow-root", str(root), *options]
    log_path = store / f"service-{port}.log"
    log = log_path.open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=ALICE, timeout=60)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
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


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The one folder the shared service's jobs may touch, holding one WARC."""
    folder = tmp_path_factory.mktemp("root")
    shutil.copy(WARC, folder)
    return folder


@pytest.fixture(scope="module")
def service(head, root, tmp_path_factory) -> Iterator[httpx.Client]:
    store = tmp_path_factory.mktemp("store")
    with serving(head, store, root, "--max-body-bytes", str(BODY_LIMIT)) as client:
        yield client


def ray_api(head: Head, path: str = "") -> httpx.Response:
    """Ray's own Jobs REST API on the head's dashboard: what Ray has, not what we say."""
    token = {"Authorization": f"Bearer {head.env['RAY_AUTH_TOKEN']}"}
    answer = httpx.get(f"{head.dashboard}/api/jobs/{path}", headers=token, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer


def ray_jobs(head: Head) -> set[str]:
    return {job["submission_id"] for job in ray_api(head).json()}


def ray_job(head: Head, job_id: str) -> dict:
    return ray_api(head, job_id).json()


def pipeline_config(root: Path, name: str = "web", **changes) -> dict:
    config = {
        "name": name,
        "output": str(root / "runs" / name),
        "inputs": [{"source": "web", "format": "warc", "paths": [str(root / "*.warc.gz")]}],
        "stages": [{"extract": {}}],
    }
    return {**config, **changes}


def post(client: httpx.Client, config: dict, headers=ALICE, **kwargs) -> httpx.Response:
    return client.post("/jobs", content=yaml.safe_dump(config), headers=headers, **kwargs)


def accepted(answer: httpx.Response, client: httpx.Client) -> dict:
    """A job the service accepted, stopped at once: these tests need it submitted, not run."""
    assert answer.status_code in (200, 201), answer.text
    client.post(f"/jobs/{answer.json()['id']}/stop")
    return answer.json()


def test_every_route_but_healthz_needs_a_known_token(service):
    assert httpx.get(service.base_url.join("/healthz")).status_code == 200
    routes = [  # every route the API documents
        (method.upper(), path.format(job_id="x", name="report.json"))
        for path, operations in service.get("/openapi.json").json()["paths"].items()
        if path != "/healthz"
        for method in operations
    ]
    assert len(routes) == 9
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            answer = httpx.request(method, service.base_url.join(path), headers=headers)
            assert answer.status_code == 401, (method, path, headers)
    listed = service.get("/jobs", headers=BOB)
    assert listed.status_code == 200
    assert listed.json() == service.get("/jobs").json()  # the same jobs, whoever asks


def test_a_training_config_runs_its_ranks_on_ray_train(service, root, head):
    tokens = root / "runs" / "web" / "tokens"  # the service checks a run to train on has some
    tokens.mkdir(parents=True, exist_ok=True)
    (tokens / "manifest.json").write_text("{}")
    config = {
        "data": {"runs": [{"path": str(root / "runs" / "web")}]},
        "model": {"preset": "tiny"},
        "train": {"steps": 1, "global_batch_tokens": 512, "micro_batch_size": 1},
        "output": str(root / "train"),
    }
    job = accepted(post(service, config, params={"nproc": 2}), service)
    assert job["kind"] == "train"
    on_ray = ray_job(head, job["id"])
    assert on_ray["entrypoint"] == "python -m pipeline.cli train tokenmill-job.yaml --nproc 2"
    assert (on_ray["metadata"]["tokenmill"], on_ray["metadata"]["submitter"]) == ("train", "alice")
    assert post(service, config, params={"nproc": 3}).status_code == 422  # 2 sequences, 3 ranks


def test_a_bad_config_is_a_422_naming_the_key(service, root, head):
    before = ray_jobs(head)
    answer = post(service, pipeline_config(root, stages=[{"extract": {"engin": "tokenmill"}}]))
    assert answer.status_code == 422
    assert "stages.extract.engin" in answer.json()["detail"]
    assert "did you mean `engine`" in answer.json()["detail"]
    unsafe = "!!python/object/apply:os.system ['touch /tmp/tokenmill-owned']"
    for body in ("inputs: [", "- a list", "\xff", f"name: {unsafe}"):
        assert service.post("/jobs", content=body).status_code == 422, body
    assert ray_jobs(head) == before


def test_paths_outside_the_allowed_roots_are_a_422(service, root, tmp_path, head):
    (root / "escape").symlink_to(tmp_path / "elsewhere")
    training = {
        "data": {"runs": [{"path": str(tmp_path / "runs" / "web")}]},
        "model": {"preset": "tiny"},
        "train": {"steps": 1, "global_batch_tokens": 256, "micro_batch_size": 1},
        "output": str(root / "train"),
    }
    passwd = {"decontaminate": {"references": [{"name": "passwd", "paths": ["/etc/passwd"]}]}}
    sample = [{"source": "web", "format": "warc", "paths": [str(SAMPLE / "*.gz")]}]
    cases = [
        ("output", pipeline_config(root, output=str(tmp_path / "out"))),
        ("output", pipeline_config(root, output=str(root / "escape" / "out"))),
        ("inputs.0.paths.0", pipeline_config(root, inputs=sample)),
        (
            "stages.decontaminate.references.0.paths.0",
            pipeline_config(root, stages=[{"extract": {}}, passwd]),
        ),
        ("data.runs.0.path", training),
        # refused before they are looked at: no "file not found" tells what exists, and
        # no URL is fetched
        ("tokenizer.path", pipeline_config(root, tokenizer={"path": "/no/such/tokenizer.json"})),
        ("tokenizer.path", pipeline_config(root, tokenizer={"path": "http://169.254.169.254/t"})),
    ]
    before = ray_jobs(head)
    for key, config in cases:
        answer = post(service, config)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith(f"config: {key}: "), answer.text
        assert answer.json()["detail"].endswith("is outside the allowed roots"), answer.text
    relative = {**training, "data": {"runs": [{"path": "runs/web"}]}}  # relative to whom?
    assert post(service, relative).json()["detail"].endswith("runs/web is not an absolute path")
    assert ray_jobs(head) == before
    inside = pipeline_config(root, output=str(root / "escape" / ".." / "runs" / "x"))
    answer = post(service, inside)
    assert answer.status_code == 201, answer.text
    assert ray_jobs(head) == before | {accepted(answer, service)["id"]}


def test_an_oversized_body_is_a_413(service, root, head):
    before = ray_jobs(head)
    padded = pipeline_config(root, name="x" * 2000)
    assert post(service, padded).status_code == 413
    chunks = iter([yaml.safe_dump(padded).encode()[:600]] * 2)  # no Content-Length: chunked
    assert service.post("/jobs", content=chunks).status_code == 413
    assert ray_jobs(head) == before
    answer = post(service, pipeline_config(root))
    assert answer.status_code == 201, answer.text
    accepted(answer, service)


def test_the_same_idempotency_key_gives_one_job(service, root, head):
    before = ray_jobs(head)
    key = {"Idempotency-Key": "nightly-2026-12-02"}
    first = post(service, pipeline_config(root), headers={**ALICE, **key})
    again = post(service, pipeline_config(root), headers={**ALICE, **key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert ray_jobs(head) == before | {accepted(first, service)["id"]}
    theirs = post(service, pipeline_config(root), headers={**BOB, **key})  # keys are per submitter
    assert theirs.status_code == 201
    assert ray_jobs(head) == before | {first.json()["id"], accepted(theirs, service)["id"]}


def test_openapi_describes_the_routes(service):
    paths = service.get("/openapi.json").json()["paths"]
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/stop", "/metrics", "/healthz"} <= set(paths)
    assert "application/yaml" in json.dumps(paths["/jobs"]["post"]["requestBody"])


def one_warc(root: Path, output: str) -> dict:
    return {
        "name": "served",
        "output": str(root / output),
        "inputs": [{"source": "web", "format": "warc", "paths": [str(root / WARC.name)]}],
        "stages": [{"extract": {}}, {"dedup": {"exact": True}}],
        "execution": {"workers": 2},
    }


def wait_for(status: Callable[[], dict], statuses: tuple[str, ...], timeout: float = 240) -> dict:
    """`status()` (a job as some API has it) once its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while (found := status())["status"] not in statuses:
        assert time.monotonic() < deadline, found
        time.sleep(0.5)
    return found


def test_a_job_runs_across_restarts_of_the_service_and_its_report_is_served(head, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(WARC, root)
    with serving(head, tmp_path, root) as client:
        assert client.get("/jobs", headers=BOB).json() == []
        key = {"Idempotency-Key": "one"}
        submitted = client.post("/jobs", json=one_warc(root, "run"), headers=key)  # JSON too
        assert submitted.status_code == 201, submitted.text
        job = submitted.json()
        assert (job["submitter"], job["kind"], job["status"]) == ("alice", "pipeline", "PENDING")
        halted = post(client, one_warc(root, "halted")).json()["id"]
        assert client.post(f"/jobs/{halted}/stop").json()["stopping"] is True
    with serving(head, tmp_path, root) as client:  # restarted while the job runs: it re-attaches
        following = wait_for(
            lambda: client.get(f"/jobs/{job['id']}").json(), ("RUNNING", *FINISHED)
        )
        assert following["status"] == "RUNNING"
    on_ray = wait_for(lambda: ray_job(head, job["id"]), FINISHED)  # finished with no service
    assert on_ray["entrypoint"] == "python -m pipeline.cli run tokenmill-job.yaml"
    with serving(head, tmp_path, root) as client:  # Ray has the status the store had not
        listed = {entry["id"]: entry for entry in client.get("/jobs", headers=BOB).json()}
        assert set(listed) == {job["id"], halted}
        finished = listed[job["id"]]
        logs = client.get(f"/jobs/{job['id']}/logs", headers=BOB).text
        assert (finished["status"], finished["submitter"]) == ("SUCCEEDED", "alice"), logs[-3000:]
        assert finished["created_at"] == job["created_at"]
        assert finished["created_at"].endswith("+00:00")
        assert listed[halted]["status"] == "STOPPED"
        assert "report.json" in logs
        assert job["id"] in client.get("/").text
        assert client.get("/jobs/nothing").status_code == 404
        again = post(client, one_warc(root, "run"), headers={**ALICE, **key})
        assert (again.status_code, again.json()["id"]) == (200, job["id"])
        assert client.get("/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        check_metrics(client, root)
        check_report_paths(client, job["id"], root / "run", outside=tmp_path)


def check_metrics(client: httpx.Client, root: Path) -> None:
    """With one job SUCCEEDED and one STOPPED in the store, one more RUNNING."""
    running = post(client, one_warc(root, "running")).json()["id"]
    wait_for(lambda: client.get(f"/jobs/{running}").json(), ("RUNNING", *FINISHED), timeout=60)
    text = client.get("/metrics").text
    assert client.post(f"/jobs/{running}/stop").json()["stopping"] is True
    assert 'tokenmill_jobs{status="STOPPED"} 1.0' in text
    assert 'tokenmill_jobs{status="SUCCEEDED"} 1.0' in text
    assert 'tokenmill_jobs{status="RUNNING"} 1.0' in text
    assert 'tokenmill_jobs{status="FAILED"} 0.0' in text


def check_report_paths(client: httpx.Client, job: str, output: Path, outside: Path) -> None:
    """The run's report folder serves its own files; no name or link leads out of it."""
    report = output / "report"
    base = f"/jobs/{job}/report"
    page = client.get(base)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert page.text == (report / "report.html").read_text()
    summary = json.loads((report / "report.json").read_text())
    assert client.get(f"{base}/report.json").json() == summary
    assert (output / "manifest.json").is_file()  # what a climbing name would reach
    (outside / "secret.txt").write_text("secret")
    (report / "secret.html").symlink_to(outside / "secret.txt")
    for name in ("secret.html", "%2e%2e/manifest.json", "..%2F..%2F..%2Fsecret.txt",
                 "%2Fetc%2Fpasswd", "nothing.html"):  # fmt: skip
        assert_no_report_file(client.get(f"{base}/{name}"), job, name)
    # a literal ../, sent as it is (httpx would resolve it in the URL)
    climbing = client.get(base, extensions={"target": f"{base}/../manifest.json".encode()})
    assert_no_report_file(climbing, job, "../manifest.json")
    (report / "report.html").unlink()
    (report / "report.html").symlink_to(outside / "secret.txt")
    assert_no_report_file(client.get(base), job, "report.html")


def assert_no_report_file(answer: httpx.Response, job: str, name: str) -> None:
    """The service's own 404 for the name (not a route that does not match)."""
    assert answer.status_code == 404, name
    assert answer.json()["detail"].startswith(f"{job}: no report file "), (name, answer.text)
