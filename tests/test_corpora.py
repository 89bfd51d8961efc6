"""The shared real crawls: every HTML 200 response becomes a document or a named removal."""

from __future__ import annotations

import pytest

from tests.conftest import funnel, job, run


def _extract(tmp_path, path) -> dict:
    inputs = [{"source": "web", "format": "warc", "paths": [str(path)]}]
    config = job(tmp_path / "out", inputs, ["extract"])
    stages = funnel(run(config))
    print({name: (s["kept"], s["removed"], s["errored"]) for name, s in stages.items()})
    return stages


def test_trafilatura_eval_pages_all_extract(local_ray, corpora, tmp_path):
    stages = _extract(tmp_path, corpora / "web" / "trafilatura-eval.warc.gz")
    assert stages["extract"]["kept"] >= 940
    assert stages["read"]["errored"] == stages["extract"]["errored"] == {}


@pytest.mark.parametrize("name", ["dolma-sample-0000.warc.gz", "dolma-sample-0001.warc.gz"])
def test_dolma_html_responses_all_become_documents(local_ray, corpora, tmp_path, name):
    stages = _extract(tmp_path, corpora / "web" / name)
    assert stages["extract"]["kept"] == stages["extract"]["docs_in"] > 0
    assert stages["read"]["errored"] == {}
