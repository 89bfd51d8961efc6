"""The training config without pydantic: plain dataclasses and a strict loader naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT
from trainer.config import TrainConfig, TrainConfigError, validate_train_config


def minimal(**sections) -> dict:
    data = {
        "output": "runs/x",
        "data": {"runs": [{"path": "runs/q"}], "seq_len": 32},
        "train": {"steps": 10, "global_batch_tokens": 256},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def test_defaults_and_round_trip():
    config = validate_train_config(minimal(), origin="t.yaml")
    assert isinstance(config, TrainConfig)
    assert config.model.preset == "tiny" and config.parallel.param_dtype == "bfloat16"
    assert config.train.betas == (0.9, 0.95) and config.data.runs[0].weight == 1.0
    assert validate_train_config(config.to_dict()) == config
    assert config.to_dict()["train"]["betas"] == [0.9, 0.95]


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"train": {"stpes": 3}}, "t.yaml: train.stpes: unknown key"),
        ({"train": {"steps": 0}}, "t.yaml: train.steps: must be greater than 0"),
        ({"train": {"steps": "many"}}, "t.yaml: train.steps: expected int"),
        ({"train": {"steps": True}}, "t.yaml: train.steps: expected int"),
        ({"parallel": {"param_dtype": "fp8"}}, "t.yaml: parallel.param_dtype: 'fp8' is not one"),
        ({"model": {"preset": "huge"}}, "t.yaml: model.preset: 'huge' is not one"),
        ({"data": {"runs": []}}, "t.yaml: data.runs: must not be empty"),
        ({"data": {"runs": [{"path": "a", "weight": -1}]}}, "t.yaml: data.runs.0.weight: must be"),
        ({"train": {"betas": [0.9]}}, "t.yaml: train.betas: expected a list of 2 values"),
        ({"train": {"betas": [2, 0.5]}}, "t.yaml: train.betas.0: must be less than 1, got 2.0"),
        ({"train": {"lr": float("inf")}}, "t.yaml: train.lr: must be a finite number, got inf"),
        ({"train": {"grad_clip": "nan"}}, "t.yaml: train.grad_clip: must be a finite number"),
        ({"train": {"global_batch_tokens": 100}}, "t.yaml: train.global_batch_tokens: must be a"),
        (
            {"data": {"runs": [{"path": "a"}], "replay": {"fraction": 1}}},
            "t.yaml: data.replay.fraction: must be less than 1",
        ),
        (
            {"data": {"runs": [{"path": "a"}], "replay": {"fraction": 0.2}}},
            "t.yaml: data.replay.runs: required without init_from",
        ),
        ({"train": {"steps": 10, "decay_steps": 20}}, "t.yaml: train.decay_steps: 20 is more than"),
        ({"model": {"rope_base": 0.5}}, "t.yaml: model.rope_base: must be greater than 1"),
        (
            {"data": {"runs": [{"path": "runs/a"}, {"path": "runs/b"}, {"path": "runs/./a/"}]}},
            "t.yaml: data.runs.2.path: runs/./a/ is listed already; give each run once",
        ),
        (
            {
                "data": {
                    "runs": [{"path": "a"}],
                    "replay": {"fraction": 0.2, "runs": [{"path": "b"}] * 2},
                }
            },
            "t.yaml: data.replay.runs.1.path: b is listed already",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key(sections, message):
    with pytest.raises(TrainConfigError) as caught:
        validate_train_config(minimal(**sections), origin="t.yaml")
    assert str(caught.value).startswith(message)


def test_a_missing_section_is_named():
    data = minimal()
    del data["train"]
    with pytest.raises(TrainConfigError, match=r"^t\.yaml: train: required$"):
        validate_train_config(data, origin="t.yaml")


def test_a_rank_given_a_config_it_cannot_read_says_so_in_one_line(tmp_path, capsys):
    from trainer.train import main

    broken = tmp_path / "config.yaml"
    broken.write_text("train: [\n")
    for path, problem in (
        (tmp_path / "missing.yaml", "cannot read it as YAML: No such file or directory"),
        (broken, "cannot read it as YAML: while parsing a flow node"),
    ):
        assert main([str(path)]) == 1
        error = capsys.readouterr().err
        assert error.startswith(f"error: {path}: {problem}") and error.count("\n") == 1


def test_floats_accept_integers_and_yaml_1_1_exponents():
    config = validate_train_config(minimal(train={"lr": 1}))
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    assert yaml.safe_load("lr: 1e-5") == {"lr": "1e-5"}  # PyYAML's YAML 1.1
    assert validate_train_config(minimal(train={"lr": "1e-5"})).train.lr == 1e-5
    with pytest.raises(TrainConfigError, match=r"train\.lr: expected float, got 'fast'"):
        validate_train_config(minimal(train={"lr": "fast"}))


def test_a_run_folder_is_local_and_checkpoints_are_not_on_a_web_server():
    """`output: s3://b/run` trained into a local folder named `s3:` (pathlib's reading)."""
    with pytest.raises(
        TrainConfigError, match=r"^<config>: output: s3://b/run is not a local folder"
    ):
        validate_train_config(minimal() | {"output": "s3://b/run"})
    with pytest.raises(
        TrainConfigError, match=r"^<config>: checkpoint\.folder: https://x/c is a web"
    ):
        validate_train_config(minimal(checkpoint={"folder": "https://x/c"}))
    assert validate_train_config(minimal(checkpoint={"folder": "s3://b/c"})).checkpoint.folder


def test_seq_len_beyond_the_models_positions_is_a_config_error():
    with pytest.raises(TrainConfigError, match=r"^t\.yaml: data\.seq_len: 1024 is more than"):
        validate_train_config(
            minimal(data={"seq_len": 1024}, train={"global_batch_tokens": 2048}), origin="t.yaml"
        )
    config = validate_train_config(
        minimal(
            data={"seq_len": 1024}, train={"global_batch_tokens": 2048}, model={"max_seq_len": 1024}
        )
    )
    assert config.model.max_positions == 1024
    started = minimal(data={"seq_len": 1024}, train={"global_batch_tokens": 2048})
    started["init_from"] = "runs/x/checkpoints/step-0000010"  # its own max_seq_len applies
    assert validate_train_config(started).data.seq_len == 1024  # checked as the run starts


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"dim": 66, "n_heads": 2, "n_kv_heads": 1}, "model.dim 66 / n_heads 2 makes heads of 33;"),
        ({"vocab_size": 300}, "model.vocab_size: 300 is less than the tokenizer's 4096 token ids"),
    ],
)
def test_a_model_shape_that_cannot_run_is_a_config_error(model, message):
    config = validate_train_config(minimal(model=model))
    with pytest.raises(TrainConfigError, match=f"^{message}"):
        config.model.args(vocab_size=4096)


def test_a_config_is_checked_without_loading_torch():
    """The CLI and `tokenmill submit` check training configs; torch costs them 3 s."""
    code = "import sys, trainer.config; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr
