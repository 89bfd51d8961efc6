"""Token shards, checkpoints and post-training data off the local disk: moto's S3 server and a
web server, on loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fsspec
import pytest
import torch
from safetensors.torch import save_file

from support.token_runs import write_token_run
from trainer.chat_data import read_records
from trainer.checkpoint import complete_checkpoints, load_model
from trainer.config import validate_train_config
from trainer.errors import TrainingError
from trainer.export import hf_config
from trainer.model import Transformer
from trainer.model_args import preset
from trainer.storage import location
from trainer.train import train


def config_data(run: str, output: Path, checkpoints: str | None = None, steps: int = 4) -> dict:
    return {
        "output": str(output),
        "data": {"runs": [{"path": run}], "seq_len": 32, "val_tokens": 256},
        "train": {
            "steps": steps,
            "global_batch_tokens": 128,
            "micro_batch_size": 2,
            "log_every": 1,
        },
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"every": 2, "keep": 2, **({"folder": checkpoints} if checkpoints else {})},
    }


def losses(output: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (output / "metrics.jsonl").open()]
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


@pytest.mark.slow
def test_shards_and_checkpoints_on_s3(s3_server, tmp_path):
    texts = [f"Paragraph {i} about lighthouses, ships and the sea at night." for i in range(300)]
    local = write_token_run(tmp_path / "tokens", {"web": texts[20:]}, {"web": texts[:20]}, 300)
    remote, checkpoints = f"{s3_server}/tokens", f"{s3_server}/train/checkpoints"
    fs = fsspec.filesystem("s3")
    fs.put(str(local), remote.removeprefix("s3://"), recursive=True)

    train(validate_train_config(config_data(str(local), tmp_path / "local")))
    train(validate_train_config(config_data(remote, tmp_path / "s3", checkpoints)))
    assert losses(tmp_path / "s3") == losses(tmp_path / "local")
    found = complete_checkpoints(checkpoints)
    assert [str(p) for p in found] == [f"{checkpoints}/step-0000002", f"{checkpoints}/step-0000004"]
    assert not fs.exists(f"{checkpoints}/step-0000004.tmp".removeprefix("s3://"))
    local_model = load_model(tmp_path / "local" / "checkpoints" / "step-0000004").state_dict()
    remote_model = load_model(str(found[-1])).state_dict()
    assert all(t.equal(remote_model[name]) for name, t in local_model.items())

    # resumed from the object store, the run goes on as an uninterrupted one
    shutil.copyfile(tmp_path / "local" / "metrics.jsonl", tmp_path / "s3" / "metrics.jsonl")
    train(validate_train_config(config_data(remote, tmp_path / "s3", checkpoints, steps=6)))
    train(validate_train_config(config_data(str(local), tmp_path / "local", steps=6)))
    assert losses(tmp_path / "s3") == losses(tmp_path / "local")

    # a shard changed on the store is refused, naming its URL
    fs.pipe_file(f"{remote}/tokens/train-00000.parquet".removeprefix("s3://"), b"changed")
    with pytest.raises(TrainingError, match=f"{remote}/tokens/train-00000.parquet: sha256"):
        train(validate_train_config(config_data(remote, tmp_path / "again", steps=1)))


def test_post_training_data_on_a_web_server(http_folder):
    """fsspec's HTTP names a file by its whole URL: a `data.train` at an https:// address was
    `not found` to validate and an aiohttp error to the run (the protocol was cut off); a
    Hugging Face `init_from` there was `No such file` (safetensors opens local files only)."""
    folder, url, _ = http_folder
    (folder / "sets").mkdir()
    (folder / "sets" / "train.jsonl").write_text('{"prompt": "2+2?", "response": "4"}\n')
    file = location(f"{url}/sets/train.jsonl")
    assert file.exists() and file.is_file() and not location(f"{url}/sets/no.jsonl").exists()
    assert (file.name, file.parent, file.parent / "train.jsonl") == (
        "train.jsonl",
        location(f"{url}/sets"),
        file,
    )
    assert [child.url for child in file.parent.iterdir()] == [file.url]
    assert read_records(file.url) == ([{"prompt": "2+2?", "response": "4"}], 0)

    model = Transformer(preset("tiny", vocab_size=64, max_seq_len=16)).eval()
    (folder / "hf").mkdir()  # init_from a Hugging Face folder there: safetensors reads no URL
    save_file(
        {n: t.contiguous() for n, t in model.state_dict().items()},
        folder / "hf" / "model.safetensors",
    )
    (folder / "hf" / "config.json").write_text(json.dumps(hf_config(model.args)))
    ids = torch.randint(7, 64, (1, 8))
    torch.testing.assert_close(load_model(f"{url}/hf").logits(ids), model.logits(ids))
