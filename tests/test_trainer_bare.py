"""`python -m trainer.train` on a bare GPU image: only torch, numpy, pyarrow, pyyaml,
safetensors and tokenizers. Here the other packages are made to raise on import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.token_runs import write_token_run
from tests.conftest import ROOT

ABSENT = ("pydantic", "ray", "selectolax", "presidio", "spacy", "tensorboard", "tqdm")

BLOCK_AND_RUN = """
import importlib.abc, importlib.machinery, runpy, sys

ABSENT = {absent!r}

class Absent(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # finds the absent packages, so that importing one raises, not merely a lookup

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ABSENT or name.startswith("presidio_"):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"{{spec.name}} is not installed on this image", name=spec.name)

    def exec_module(self, module):
        raise AssertionError("unreachable")

sys.meta_path.insert(0, Absent())
sys.argv = ["trainer.train", {config!r}]
try:
    runpy.run_module("trainer.train", run_name="__main__")
finally:
    print("LOADED", sorted({{m.split(".")[0] for m in sys.modules}}), file=sys.stderr)
"""


@pytest.mark.slow
def test_trains_and_checkpoints_without_the_pipelines_packages(tmp_path):
    texts = [f"Paragraph {i} about lighthouses, ships and the sea at night." for i in range(300)]
    tokens = write_token_run(tmp_path / "tokens", {"web": texts[20:]}, {"web": texts[:20]}, 300)
    config = {
        "output": str(tmp_path / "run"),
        "data": {"runs": [{"path": str(tokens)}], "seq_len": 32, "val_tokens": 256},
        "train": {"steps": 3, "global_batch_tokens": 128, "micro_batch_size": 2},
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    script = BLOCK_AND_RUN.format(absent=ABSENT, config=str(tmp_path / "train.yaml"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = done.stderr.split("LOADED")[-1]
    assert not any(f"'{name}'" in loaded for name in ABSENT)
    assert "'pipeline'" not in loaded and "'filters'" not in loaded
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert rows[-1]["step"] == 3
    assert (Path(tmp_path / "run" / "checkpoints" / "step-0000003") / "meta.json").is_file()
