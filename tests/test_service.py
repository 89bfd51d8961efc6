"""The job service's API without a cluster: authentication, validation, the allowed roots,
report paths, the body limit, idempotent submission, metrics and the store across
restarts, over FastAPI's test client with Ray's Jobs API stood in for by `FakeRayJobs`.
tests/test_service_cluster.py runs it for real."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from pipeline.service.app import ServiceSettings, create_app
from pipeline.service.auth import caller, load_tokens
from pipeline.service.store import Base, alembic_config, migrate
from tests.conftest import SAMPLE

TOKENS = {"alice-token": "alice", "bob-token": "bob"}
ALICE = {"Authorization": "Bearer alice-token"}
BOB = {"Authorization": "Bearer bob-token"}


@dataclass
class FakeRayJobs:
    """The part of Ray's JobSubmissionClient the service calls: a submitted job runs until
    it is stopped or a test sets its status."""

    entrypoints: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)

    def submit_job(self, *, entrypoint, runtime_env, metadata, submission_id):
        assert (Path(runtime_env["working_dir"]) / "tokenmill-job.yaml").is_file()
        self.entrypoints[submission_id] = entrypoint
        self.statuses[submission_id] = "RUNNING"
        return submission_id

    def get_job_info(self, job_id):
        if job_id not in self.statuses:
            raise RuntimeError(f"Job {job_id} does not exist")
        return SimpleNamespace(submission_id=job_id, status=self.statuses[job_id], message="")

    def list_jobs(self):
        return [self.get_job_info(job_id) for job_id in self.statuses]

    def stop_job(self, job_id):
        running = self.statuses[job_id] == "RUNNING"
        self.statuses[job_id] = "STOPPED"
        return running

    def get_job_logs(self, job_id):
        return f"logs of {job_id}\n"


@pytest.fixture
def root(tmp_path) -> Path:
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


def service(root: Path, ray_jobs: FakeRayJobs, **settings) -> TestClient:
    store = f"sqlite:///{root.parent / 'jobs.db'}"
    app = create_app(ServiceSettings(store, [str(root)], TOKENS, **settings), ray_jobs)
    return TestClient(app)


def pipeline_config(root: Path, name: str = "web", **changes) -> dict:
    config = {
        "name": name,
        "output": str(root / "runs" / name),
        "inputs": [{"source": "web", "format": "warc", "paths": [str(root / "*.warc.gz")]}],
        "stages": [{"extract": {}}],
    }
    return {**config, **changes}


def post(client: TestClient, config: dict, headers=ALICE, **kwargs):
    return client.post("/jobs", content=yaml.safe_dump(config), headers=headers, **kwargs)


def test_every_route_but_healthz_needs_a_known_token(root):
    client = service(root, FakeRayJobs())
    assert client.get("/healthz").status_code == 200
    routes = [  # every route the API documents
        (method.upper(), path.format(job_id="x", name="report.json"))
        for path, operations in client.app.openapi()["paths"].items()
        if path != "/healthz"
        for method in operations
    ]
    assert len(routes) == 9
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
    assert client.get("/jobs", headers=BOB).json() == []


def test_tokens_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "tokens"
    path.write_text("# name=token\nalice = a1\nbob=b2\n")
    assert load_tokens(str(path)) == {"a1": "alice", "b2": "bob"}
    monkeypatch.setenv("TOKENMILL_SERVICE_TOKENS", "carol=c3,dave=d4")
    tokens = load_tokens(None)
    assert caller(tokens, "d4") == "dave" and caller(tokens, "d") is None


def test_a_config_is_submitted_as_an_argument_list_and_followed(root):
    ray_jobs = FakeRayJobs()
    client = service(root, ray_jobs)
    answer = client.post("/jobs", json=pipeline_config(root), headers=ALICE)  # JSON works too
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert (job["submitter"], job["kind"], job["status"]) == ("alice", "pipeline", "PENDING")
    assert ray_jobs.entrypoints[job["id"]] == "python -m pipeline.cli run tokenmill-job.yaml"
    ray_jobs.statuses[job["id"]] = "SUCCEEDED"
    assert client.get(f"/jobs/{job['id']}", headers=ALICE).json()["status"] == "SUCCEEDED"
    assert client.get(f"/jobs/{job['id']}/logs", headers=BOB).text == f"logs of {job['id']}\n"
    assert client.get("/jobs/nothing", headers=ALICE).status_code == 404
    assert job["id"] in client.get("/", headers=ALICE).text


def test_a_training_config_runs_its_ranks_on_ray_train(root):
    ray_jobs = FakeRayJobs()
    client = service(root, ray_jobs)
    config = {
        "data": {"runs": [{"path": str(root / "runs" / "web")}]},
        "model": {"preset": "tiny"},
        "train": {"steps": 1, "global_batch_tokens": 512, "micro_batch_size": 1},
        "output": str(root / "train"),
    }
    answer = post(client, config, params={"nproc": 2})
    assert answer.status_code == 201, answer.text
    assert answer.json()["kind"] == "train"
    expected = "python -m pipeline.cli train tokenmill-job.yaml --nproc 2"
    assert ray_jobs.entrypoints[answer.json()["id"]] == expected
    assert post(client, config, params={"nproc": 3}).status_code == 422  # 2 sequences, 3 ranks


def test_a_bad_config_is_a_422_naming_the_key(root):
    ray_jobs = FakeRayJobs()
    client = service(root, ray_jobs)
    answer = post(client, pipeline_config(root, stages=[{"extract": {"engin": "tokenmill"}}]))
    assert answer.status_code == 422
    assert "stages.extract.engin" in answer.json()["detail"]
    assert "did you mean `engine`" in answer.json()["detail"]
    unsafe = "!!python/object/apply:os.system ['touch /tmp/tokenmill-owned']"
    for body in ("inputs: [", "- a list", "\xff", f"name: {unsafe}"):
        assert client.post("/jobs", content=body, headers=ALICE).status_code == 422
    assert ray_jobs.entrypoints == {}


def test_paths_outside_the_allowed_roots_are_a_422(root, tmp_path):
    client = service(root, FakeRayJobs())
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
    for key, config in cases:
        answer = post(client, config)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith(f"config: {key}: "), answer.text
        assert answer.json()["detail"].endswith("is outside the allowed roots"), answer.text
    relative = {**training, "data": {"runs": [{"path": "runs/web"}]}}  # relative to whom?
    assert post(client, relative).json()["detail"].endswith("runs/web is not an absolute path")
    inside = pipeline_config(root, output=str(root / "escape" / ".." / "runs" / "x"))
    assert post(client, inside).status_code == 201


def test_reports_are_served_only_from_inside_the_jobs_output(root, tmp_path):
    client = service(root, FakeRayJobs())
    job = post(client, pipeline_config(root)).json()
    report = root / "runs" / "web" / "report"
    report.mkdir(parents=True)
    (report / "report.html").write_text("<h1>the report</h1>")
    (report / "report.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("secret")
    (report / "secret.html").symlink_to(tmp_path / "secret.txt")
    (root / "runs" / "web" / "manifest.json").write_text("{}")
    base = f"/jobs/{job['id']}/report"
    assert client.get(base, headers=ALICE).text == "<h1>the report</h1>"
    assert client.get(f"{base}/report.json", headers=ALICE).json() == {}
    for name in ("secret.html", "%2e%2e/manifest.json", "..%2F..%2F..%2Fsecret.txt",
                 "%2Fetc%2Fpasswd", "nothing.html"):  # fmt: skip
        assert client.get(f"{base}/{name}", headers=ALICE).status_code == 404, name
    (report / "report.html").unlink()
    (report / "report.html").symlink_to(tmp_path / "secret.txt")
    assert client.get(base, headers=ALICE).status_code == 404


def test_an_oversized_body_is_a_413(root):
    ray_jobs = FakeRayJobs()
    client = service(root, ray_jobs, max_body_bytes=1000)
    padded = pipeline_config(root, name="x" * 2000)
    assert post(client, padded).status_code == 413
    chunks = iter([yaml.safe_dump(padded).encode()[:600]] * 2)  # no Content-Length: chunked
    assert client.post("/jobs", content=chunks, headers=ALICE).status_code == 413
    assert ray_jobs.entrypoints == {}
    assert post(client, pipeline_config(root)).status_code == 201


def test_the_same_idempotency_key_gives_one_job(root):
    ray_jobs = FakeRayJobs()
    client = service(root, ray_jobs)
    key = {"Idempotency-Key": "nightly-2026-12-02"}
    first = post(client, pipeline_config(root), headers={**ALICE, **key})
    again = post(client, pipeline_config(root), headers={**ALICE, **key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len(ray_jobs.entrypoints) == 1
    theirs = post(client, pipeline_config(root), headers={**BOB, **key})  # keys are per submitter
    assert theirs.status_code == 201 and len(ray_jobs.entrypoints) == 2


def test_metrics_count_jobs_by_status(root):
    ray_jobs = FakeRayJobs()
    client = service(root, ray_jobs)
    ids = [post(client, pipeline_config(root, name=f"j{n}")).json()["id"] for n in range(3)]
    assert client.post(f"/jobs/{ids[0]}/stop", headers=ALICE).json()["stopping"] is True
    ray_jobs.statuses[ids[1]] = "SUCCEEDED"
    text = client.get("/metrics", headers=ALICE).text
    assert 'tokenmill_jobs{status="STOPPED"} 1.0' in text
    assert 'tokenmill_jobs{status="SUCCEEDED"} 1.0' in text
    assert 'tokenmill_jobs{status="RUNNING"} 1.0' in text
    assert 'tokenmill_jobs{status="FAILED"} 0.0' in text


def test_the_store_outlives_the_service_and_reattaches_to_ray(root):
    ray_jobs = FakeRayJobs()
    job = post(service(root, ray_jobs), pipeline_config(root)).json()
    ray_jobs.statuses[job["id"]] = "SUCCEEDED"  # finished while no service ran
    client = service(root, ray_jobs)
    [listed] = client.get("/jobs", headers=BOB).json()
    assert (listed["id"], listed["submitter"]) == (job["id"], "alice")
    assert listed["status"] == "SUCCEEDED"
    assert listed["created_at"] == job["created_at"] and listed["created_at"].endswith("+00:00")


def test_migrations_build_the_schema_the_models_describe(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)  # `alembic upgrade head`
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "jobs"}
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    migrate(url)  # at head already: nothing to do


def test_migrations_render_for_postgresql():
    """`alembic upgrade head --sql` for PostgreSQL: the DDL it would run (no server here)."""
    config = alembic_config("postgresql://tokenmill@db/jobs")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    ddl = config.output_buffer.getvalue()
    assert "CREATE TABLE jobs" in ddl and "TIMESTAMP WITH TIME ZONE" in ddl
    assert "CONSTRAINT uq_jobs_submitter_key UNIQUE (submitter, idempotency_key)" in ddl


def test_openapi_describes_the_routes(root):
    paths = service(root, FakeRayJobs()).get("/openapi.json").json()["paths"]
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/stop", "/metrics", "/healthz"} <= set(paths)
    assert "application/yaml" in json.dumps(paths["/jobs"]["post"]["requestBody"])
