"""`tokenmill ablate`: variants of a pipeline config trained into the same model and scored
on the same held-out text; the scores checked with Hugging Face transformers on the exported
checkpoints and the shared tokenizer read by `tokenizers` itself."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml
from tokenizers import Tokenizer

from pipeline.ablation.config import (
    load_ablation,
    read_train_settings,
    validate_ablation,
    variant_job,
)
from pipeline.ablation.run import claim_folder, run_ablation
from pipeline.schema import ConfigError
from pipeline.submit import CONFIG_NAME, prepare
from tests.conftest import ROOT, SAMPLE, run_cli
from trainer.export import export_hf

SEQ_LEN = 64
HELD_OUT = SAMPLE / "held-out.jsonl"


def write_configs(folder: Path, **ablation) -> Path:
    """A pipeline over the sample wiki articles, a tiny training config, and an ablation of
    both: the baseline, and the same without the dedup stage."""
    pipeline = {
        "name": "wiki",
        "output": str(folder / "unused"),
        "inputs": [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}],
        "stages": [{"quality": {}}, {"dedup": {"exact": True, "minhash": {"threshold": 0.8}}}],
        "tokenizer": {"train": {"vocab_size": 512}},
        "mixture": {"epochs": {"wiki": 2.5}, "validation": 0.1, "shard_tokens": 4000},
    }
    training = {
        "output": str(folder / "unused-training"),
        "data": {"runs": [{"path": str(folder / "unused")}], "seq_len": SEQ_LEN},
        "model": {"preset": "tiny"},
        "train": {
            "steps": 6,
            "global_batch_tokens": 512,
            "micro_batch_size": 8,
            "lr": 1e-2,
            "warmup_steps": 2,
            "log_every": 3,
        },
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"every": 0, "keep": 1},
    }
    config = {
        "name": "wiki-ablation",
        "output": str(folder / "ablation"),
        "pipeline": str(folder / "pipeline.yaml"),
        "training": str(folder / "training.yaml"),
        "variants": {"baseline": {}, "no-dedup": {"without": ["dedup"]}},
        "eval": [{"source": "held-out", "format": "jsonl", "paths": [str(HELD_OUT)]}],
        "seeds": [0, 1],
        **ablation,
    }
    for name, data in (("pipeline", pipeline), ("training", training), ("ablation", config)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return folder / "ablation.yaml"


@torch.no_grad()
def transformers_nats(hf_folder: Path, documents: list[list[int]]) -> float:
    """Summed loss of the exported model on each document alone, in pieces of SEQ_LEN
    targets, through transformers' own forward and loss."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(hf_folder, torch_dtype=torch.float32).eval()
    total = 0.0
    for ids in documents:
        for start in range(0, len(ids) - 1, SEQ_LEN):
            piece = torch.tensor([ids[start : start + SEQ_LEN + 1]])
            loss = model(input_ids=piece, labels=piece).loss.item()
            total += loss * (piece.shape[1] - 1)
    return total


@pytest.mark.slow
def test_each_variant_is_scored_on_the_held_out_text_as_transformers_scores_it(tmp_path, local_ray):
    ablation = load_ablation(str(write_configs(tmp_path)))
    comparison = run_ablation(ablation)

    baseline_tokenizer = tmp_path / "ablation" / "baseline" / "run" / "tokenizer" / "tokenizer.json"
    manifests = [
        json.loads((tmp_path / "ablation" / name / "run" / "tokens" / "manifest.json").read_text())
        for name in ("baseline", "no-dedup")
    ]
    assert manifests[0]["tokenizer"] == manifests[1]["tokenizer"]  # one tokenizer for all

    tokenizer = Tokenizer.from_file(str(baseline_tokenizer))
    texts = [json.loads(line)["text"] for line in HELD_OUT.open()]
    documents = [[1, *tokenizer.encode(text, add_special_tokens=False).ids, 2] for text in texts]
    text_bytes = sum(len(text.encode()) for text in texts)
    assert comparison["held_out"] == [
        {
            "source": "held-out",
            "documents": len(texts),
            "bytes": text_bytes,
            "tokens": sum(len(ids) - 1 for ids in documents),
            "unread": {},
        }
    ]

    variants = {variant["name"]: variant for variant in comparison["variants"]}
    assert list(variants) == ["baseline", "no-dedup"]
    for name, variant in variants.items():
        report = json.loads(
            (tmp_path / "ablation" / name / "run" / "report" / "report.json").read_text()
        )
        assert variant["documents"] == report["documents"]
        shards = sorted((tmp_path / "ablation" / name / "run" / "tokens").glob("train-*.parquet"))
        rows = pq.read_table(shards, columns=["copy", "num_tokens"]).to_pylist()
        unique = sum(row["num_tokens"] for row in rows if row["copy"] == 0)
        assert max(row["copy"] for row in rows) == 2  # up-sampled: repeats are not unique
        assert variant["unique_tokens"] == unique
        assert variant["epochs"] == pytest.approx(6 * 512 / unique)
        assert [run["seed"] for run in variant["runs"]] == [0, 1]
        for run in variant["runs"]:
            checkpoint = (
                tmp_path
                / "ablation"
                / name
                / f"seed-{run['seed']}"
                / "checkpoints"
                / "step-0000006"
            )
            hf = export_hf(checkpoint, tmp_path / f"hf-{name}-{run['seed']}")
            expected = transformers_nats(hf, documents) / math.log(2) / text_bytes
            assert run["bits_per_byte"] == pytest.approx(expected, rel=1e-4)
        scores = [run["bits_per_byte"] for run in variant["runs"]]
        assert variant["spread"] == pytest.approx(max(scores) - min(scores))
        assert scores[0] != scores[1]  # the seeds trained different models
    assert variants["no-dedup"]["documents"] > variants["baseline"]["documents"]
    assert variants["no-dedup"]["delta"] == pytest.approx(
        variants["no-dedup"]["bits_per_byte"] - variants["baseline"]["bits_per_byte"]
    )
    written = json.loads((tmp_path / "ablation" / "report" / "comparison.json").read_text())
    assert written == json.loads(json.dumps(comparison))
    reported = run_cli(["report", str(tmp_path / "ablation")])
    assert reported.returncode == 2
    assert "an ablation's folder: its comparison is report/comparison.json" in reported.stderr

    checkpoints = sorted((tmp_path / "ablation").glob("*/seed-*/checkpoints/step-*/meta.json"))
    before = [path.stat().st_mtime_ns for path in checkpoints]
    assert run_ablation(load_ablation(str(tmp_path / "ablation.yaml"))) == comparison
    assert [path.stat().st_mtime_ns for path in checkpoints] == before  # nothing retrained
    with pytest.raises(ConfigError, match=r"train\.steps: 6 in .*, 8 now: .*ablate --fresh"):
        run_ablation(
            load_ablation(str(tmp_path / "ablation.yaml"), ["training_set={train.steps: 8}"])
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": {"only": {}}}, "variants: give two or more"),
        (
            {"variants": {"a": {}, "b": {"without": ["pii"]}}},
            "variants.b.without: 'pii' is not a stage",
        ),
        (
            {"variants": {"a": {}, "b": {"set": {"tokenizer.path": "x"}}}},
            "variants.b.set.tokenizer.path",
        ),
        ({"variants": {"a": {}, "b": {"set": {"stages.dedup.bogus": 1}}}}, "bogus"),
        ({"variants": {"a": {}, "b c": {}}}, "variants.b c"),
        (
            {
                "eval": [
                    {"source": "x", "format": "warc", "paths": [str(SAMPLE / "web-000.warc.gz")]}
                ]
            },
            "WARC pages need extraction",
        ),
        (
            {"eval": [{"source": "x", "format": "jsonl", "paths": ["/nowhere/*.jsonl"]}]},
            "eval[0].paths",
        ),
        ({"seeds": [1, 1]}, "a seed is listed twice"),
        ({"training_set": {"train.steps": 0}}, "train.steps"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_a_bad_ablation_config_is_one_error_naming_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as refused:
        load_ablation(str(write_configs(tmp_path, **change)))
    assert message in str(refused.value)


def test_a_post_training_config_one_without_checkpoints_and_unsplit_ranks_are_refused(
    tmp_path,
):
    path = write_configs(tmp_path)
    with pytest.raises(ConfigError, match="does not split into 3 ranks"):
        load_ablation(str(path), nproc=3)
    with pytest.raises(ConfigError, match=r"checkpoint\.enabled is false"):
        load_ablation(str(path), ["training_set={checkpoint.enabled: false}"])
    with pytest.raises(ConfigError, match="is a post-training config"):
        load_ablation(str(path), [f"training={ROOT / 'configs' / 'sft-gsm8k.yaml'}"])


def test_a_folder_of_other_files_is_not_taken(tmp_path):
    ablation = load_ablation(str(write_configs(tmp_path)))
    folder = Path(ablation.output)
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files that are not an ablation's"):
        claim_folder(ablation)
    (folder / "notes.txt").unlink()
    claim_folder(ablation)
    claim_folder(ablation)  # its own folder, again


def test_validate_describes_the_variants(tmp_path):
    path = str(write_configs(tmp_path))
    validated = run_cli(["validate", path])
    assert validated.returncode == 0, validated.stderr
    assert yaml.safe_load(validated.stdout)["variants"] == {
        "baseline": {"set": {}, "without": []},
        "no-dedup": {"set": {}, "without": ["dedup"]},
    }
    plan = validated.stderr
    assert "variant baseline (as configured): quality → dedup;" in plan
    assert "variant no-dedup (without dedup): quality;" in plan
    assert "a new run" in plan and "6 steps of 512 tokens, seeds 0, 1: 4 runs" in plan
    assert "held out: held-out: 1 file" in plan


def test_a_submitted_ablation_carries_its_configs_inline(tmp_path, monkeypatch):
    """What `submit` sends runs in a Ray Job's own folder: the pipeline and training configs
    inline, every path absolute, `training_set` applied; read there, it is the same ablation."""
    path = write_configs(tmp_path, training_set={"train.steps": 4})
    job = prepare(yaml.safe_load(path.read_text()), str(path))
    assert job.kind == "ablation" and job.entrypoint[-4:] == ["ablate", CONFIG_NAME, "--nproc", "1"]
    elsewhere = tmp_path / "job"
    elsewhere.mkdir()
    (elsewhere / CONFIG_NAME).write_text(job.text)
    monkeypatch.chdir(elsewhere)
    sent = load_ablation(CONFIG_NAME)
    assert isinstance(sent.pipeline, dict) and isinstance(sent.training, dict)
    assert sent.training_set == {} and read_train_settings(sent).train.steps == 4
    original = load_ablation(str(path))
    for name in original.variants:
        assert variant_job(sent, name).to_dict() == variant_job(original, name).to_dict()
    assert read_train_settings(sent) == read_train_settings(original)


def test_the_service_s_path_check_reaches_the_configs_an_ablation_names(tmp_path):
    path = write_configs(tmp_path)
    data = yaml.safe_load(path.read_text())

    def outside_sample(where: str) -> str | None:
        return "outside the allowed roots" if where.startswith(str(SAMPLE)) else None

    with pytest.raises(ConfigError, match=r"eval\.0\.paths\.0: outside the allowed roots"):
        prepare(data, "request", path_check=outside_sample)
    shutil.copy(HELD_OUT, tmp_path / "held-out.jsonl")
    data["eval"][0]["paths"] = [str(tmp_path / "held-out.jsonl")]
    with pytest.raises(ConfigError, match=r"variant baseline.*outside the allowed roots"):
        prepare(data, "request", path_check=outside_sample)
    data["pipeline"] = str(tmp_path / "pipeline.yaml")
    data["training"] = yaml.safe_load((tmp_path / "training.yaml").read_text())
    # What the ablation sets for each run is not checked as the config gives it.
    data["training"]["output"] = "relative/folder"
    data["training"]["data"]["runs"] = [{"path": "/etc/placeholder"}]
    pipeline = yaml.safe_load((tmp_path / "pipeline.yaml").read_text())
    pipeline["inputs"][0]["paths"] = [str(tmp_path / "held-out.jsonl")]
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    validate_ablation(
        data, "request", path_check=lambda where: "refused" if where.startswith("/etc") else None
    )
    data["training"]["init_from"] = "/etc/secret-model"
    with pytest.raises(ConfigError, match="training: init_from: refused"):
        validate_ablation(
            data,
            "request",
            path_check=lambda where: "refused" if where.startswith("/etc") else None,
        )


def test_a_config_the_ablation_names_is_a_file_or_a_mapping(tmp_path):
    path = write_configs(tmp_path)
    with pytest.raises(ConfigError) as refused:
        load_ablation(str(path), ["pipeline=/nowhere/pipeline.yaml"])
    assert str(refused.value).endswith("pipeline: file not found: /nowhere/pipeline.yaml")
    with pytest.raises(ConfigError) as refused:
        load_ablation(str(path), ["training=3"])
    assert str(refused.value).endswith(
        "training: expected a config file's path, or the config itself as a mapping"
    )
