from __future__ import annotations

import os
import secrets
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.config import JobConfig, validate_config
from pipeline.plan import RunSummary, run_job

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
CORPORA = Path(os.environ.get("TOKENMILL_CORPORA", ROOT.parent / "shared" / "corpora"))

# Every Ray the tests start (embedded runs, subprocesses, the test cluster) takes this
# session's own token, so Ray neither reads nor writes the user's ~/.ray/auth_token, and
# no test joins the cluster a user's RAY_ADDRESS names.
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
os.environ.pop("RAY_ADDRESS", None)


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


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not (CORPORA / "web").is_dir():
        pytest.skip(f"shared corpora not found at {CORPORA} (set TOKENMILL_CORPORA)")
    return CORPORA


@pytest.fixture(scope="session")
def local_ray():
    """One real local Ray with 2 worker CPUs for the whole session."""
    import ray

    ray.init(address="local", num_cpus=2, object_store_memory=256 << 20, include_dashboard=False)
    yield ray
    ray.shutdown()


def job(output: Path, inputs: list[dict], stages: list | None = None, **extra) -> JobConfig:
    data = {"name": "test", "output": str(output), "inputs": inputs, "stages": stages or []}
    return validate_config({**data, **extra})


def run(config: JobConfig, **kwargs) -> RunSummary:
    summary = run_job(config, **kwargs)
    assert summary.report["conservation_problems"] == []
    return summary


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
