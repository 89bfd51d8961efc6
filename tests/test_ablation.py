"""`tokenmill ablate`: variants of a pipeline config trained into the same model and scored
on the same held-out text; the scores checked with Hugging Face transformers on the exported
checkpoints and the shared tokenizer read by `tokenizers` itself."""

from __future__ import annotations

import json
import math
import random
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from tokenizers import Tokenizer

from pipeline.ablation.config import (
    AblationConfig,
    load_ablation,
    read_train_settings,
    validate_ablation,
    variant_job,
)
from pipeline.ablation.contamination import HeldOutNgrams, contamination
from pipeline.ablation.held_out import HeldOutSource
from pipeline.ablation.run import claim_folder, run_ablation
from pipeline.cli.ablation import contaminated
from pipeline.output import RunOutput
from pipeline.plan import run_job
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
        "checkpoint": {"every": 3, "keep": 2},
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
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
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
    quoted = tmp_path / "quoted.jsonl"  # articles the pipeline reads too
    quoted.write_text("".join((SAMPLE / "wiki.jsonl").read_text().splitlines(True)[:6]))
    sources = {"held-out": HELD_OUT, "quoted": quoted}
    ablation = load_ablation(
        str(
            write_configs(
                tmp_path,
                eval=[
                    {"source": name, "format": "jsonl", "paths": [str(path)]}
                    for name, path in sources.items()
                ],
                variants={
                    "baseline": {},
                    "no-dedup": {"without": ["dedup"]},
                    "more-epochs": {"set": {"mixture.epochs.wiki": 3.5}},
                },
            )
        )
    )
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
    quoted_texts = [json.loads(line)["text"] for line in quoted.open()]
    quoted_documents = [
        [1, *tokenizer.encode(text, add_special_tokens=False).ids, 2] for text in quoted_texts
    ]
    quoted_bytes = sum(len(text.encode()) for text in quoted_texts)
    assert comparison["held_out"][0] == {
        "source": "held-out",
        "documents": len(texts),
        "bytes": text_bytes,
        "tokens": sum(len(ids) - 1 for ids in documents),
        "unread": {},
    }
    assert [source["source"] for source in comparison["held_out"]] == ["held-out", "quoted"]

    variants = {variant["name"]: variant for variant in comparison["variants"]}
    assert list(variants) == ["baseline", "no-dedup", "more-epochs"]
    for name, variant in variants.items():
        report = json.loads(
            (tmp_path / "ablation" / name / "run" / "report" / "report.json").read_text()
        )
        assert variant["documents"] == report["documents"]
        shards = sorted((tmp_path / "ablation" / name / "run" / "tokens").glob("train-*.parquet"))
        rows = pq.read_table(shards, columns=["copy", "num_tokens"]).to_pylist()
        unique = sum(row["num_tokens"] for row in rows if row["copy"] == 0)
        assert max(row["copy"] for row in rows) >= 2  # up-sampled: repeats are not unique
        assert variant["unique_tokens"] == unique
        assert variant["epochs"] == pytest.approx(6 * 512 / unique)
        assert [run["seed"] for run in variant["runs"]] == [0, 1]
        for run in variant["runs"]:
            assert list(run["bits_per_byte_by_step"]) == ["3", "6"]  # the kept checkpoints
            for step in (3, 6):
                checkpoint = f"{name}/seed-{run['seed']}/checkpoints/step-{step:07d}"
                hf = export_hf(tmp_path / "ablation" / checkpoint, tmp_path / "hf" / checkpoint)
                nats = transformers_nats(hf, documents)
                quoted_nats = transformers_nats(hf, quoted_documents)
                assert run["bits_per_byte_by_step"][str(step)] == pytest.approx(
                    (nats + quoted_nats) / math.log(2) / (text_bytes + quoted_bytes), rel=1e-4
                )
            assert run["bits_per_byte_by_source"]["held-out"] == pytest.approx(
                nats / math.log(2) / text_bytes, rel=1e-4
            )
        assert variant["bits_per_byte_by_step"]["6"] == pytest.approx(variant["bits_per_byte"])
        assert variant["contamination"] == recounted_contamination(
            tmp_path / "ablation" / name / "run", sources
        )
        scores = [run["bits_per_byte"] for run in variant["runs"]]
        assert variant["spread"] == pytest.approx(max(scores) - min(scores))
        assert scores[0] != scores[1]  # the seeds trained different models
    assert variants["no-dedup"]["documents"] > variants["baseline"]["documents"]
    assert variants["more-epochs"]["documents"] == variants["baseline"]["documents"]
    assert_documents_linked_and_tokens_made_anew(ablation, "more-epochs", baseline_tokenizer)
    seen = variants["baseline"]["contamination"]["held_out_documents_by_source"]
    assert seen["held-out"] == 0 and seen["quoted"] > 0
    assert f"baseline {seen['quoted']} of {len(texts) + 6} (quoted {seen['quoted']} of 6)" in (
        contaminated(comparison)
    )
    assert variants["no-dedup"]["delta"] == pytest.approx(
        variants["no-dedup"]["bits_per_byte"] - variants["baseline"]["bits_per_byte"]
    )
    written = json.loads((tmp_path / "ablation" / "report" / "comparison.json").read_text())
    assert written == json.loads(json.dumps(comparison))
    reported = run_cli(["report", str(tmp_path / "ablation"), "--json"])
    assert reported.returncode == 0, reported.stderr
    assert json.loads(reported.stdout) == written
    reported = run_cli(["report", str(tmp_path / "ablation")])
    assert reported.returncode == 0, reported.stderr
    assert "held out seen" in reported.stdout
    assert reported.stdout.count("\n│ ") == 6  # a row per variant, then by step
    assert "bits/byte by step (seeds' mean)" in reported.stdout
    assert "warning: held-out documents share 13-word sequences" in reported.stdout

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
    reported = run_cli(["report", str(folder)])
    assert reported.returncode == 2
    assert "an ablation's folder with no comparison yet" in reported.stderr


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


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() else " " for c in text.lower()).split()


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    split = words(text)
    return {tuple(split[i : i + n]) for i in range(len(split) - n + 1)}


def assert_documents_linked_and_tokens_made_anew(
    ablation: AblationConfig, name: str, tokenizer: Path
) -> None:
    """A variant whose pipeline differs from the baseline's only in its mixture holds the
    baseline's documents, linked, and the token shards a run of its own config makes."""
    runs = Path(ablation.output)
    for path in sorted((runs / "baseline" / "run" / "documents").glob("*.parquet")):
        assert path.stat().st_ino == (runs / name / "run" / "documents" / path.name).stat().st_ino
    alone = ablation.model_copy(update={"output": str(runs.parent / "alone")})
    assert not run_job(variant_job(alone, name, str(tokenizer))).problems
    for path in sorted((runs / name / "run" / "tokens").glob("train-*.parquet")):
        made_alone = Path(alone.output, name, "run", "tokens", path.name)
        assert pq.read_table(path).equals(pq.read_table(made_alone))


def recounted_contamination(run: Path, sources: dict[str, Path]) -> dict:
    """Held-out documents sharing a 13-word sequence with a document the run's training
    shards hold, and those training documents, recounted in Python."""
    trained = set(
        pq.read_table(sorted(run.glob("tokens/train-*.parquet"))).column("id").to_pylist()
    )
    documents = pq.read_table(sorted(run.glob("documents/*.parquet"))).to_pylist()
    training = [ngrams(row["text"], 13) for row in documents if row["id"] in trained]
    every_trained = set().union(*training)
    by_source = {}
    every_held = set()
    for name, path in sources.items():
        held = [ngrams(json.loads(line)["text"], 13) for line in path.open()]
        by_source[name] = sum(bool(grams & every_trained) for grams in held)
        every_held |= set().union(*held)
    return {
        "held_out_documents": sum(by_source.values()),
        "held_out_documents_by_source": by_source,
        "training_documents": sum(bool(grams & every_held) for grams in training),
    }


def write_run(folder: Path, documents: dict[str, str], trained: list[str]) -> RunOutput:
    """A run's documents, and training shards that hold the `trained` ones (twice each, as
    the mixture's copies)."""
    (folder / "documents").mkdir(parents=True)
    (folder / "tokens" / "val").mkdir(parents=True)
    table = pa.table({"id": list(documents), "text": list(documents.values())})
    pq.write_table(table.slice(0, len(documents) // 2), folder / "documents" / "a.parquet")
    pq.write_table(table.slice(len(documents) // 2), folder / "documents" / "b.parquet")
    pq.write_table(pa.table({"id": trained * 2}), folder / "tokens" / "train-00000.parquet")
    pq.write_table(
        pa.table({"id": list(documents)}), folder / "tokens" / "val" / "val-00000.parquet"
    )
    shards = [{"path": "train-00000.parquet"}, {"path": "val/val-00000.parquet"}]
    (folder / "tokens" / "manifest.json").write_text(json.dumps({"shards": shards}))
    return RunOutput(str(folder))


def test_held_out_documents_a_variant_trained_on_are_counted(tmp_path):
    news = [
        "The council voted on Tuesday to close the old bridge for repairs until next spring, "
        "officials said.",
        "Rainfall this autumn was the highest recorded in the region since the records began "
        "in eighteen ninety.",
        "A local bakery won the national prize for its rye bread after three years of trying "
        "new recipes.",
    ]
    wiki = ["Basalt is a fine-grained volcanic rock formed from the rapid cooling of lava."]
    documents = {
        # case, spacing and punctuation changed: still 13 words of the first article
        "quotes-news": "Archive: THE COUNCIL voted -- on tuesday, to close the old bridge for "
        "repairs until next... spring",
        "twelve-words": "rainfall this autumn was the highest recorded in the region since the, "
        "and more",
        "quotes-wiki": "As a reminder: basalt is a fine grained volcanic rock formed from the "
        "rapid cooling of lava. See also gabbro.",
        "validation-only": news[2],
    }
    run = write_run(tmp_path / "run", documents, ["quotes-news", "twelve-words", "quotes-wiki"])
    held_out = [
        HeldOutSource("news", pa.array(news), [], 0, Counter()),
        HeldOutSource("wiki", pa.array(wiki), [], 0, Counter()),
    ]
    found = contamination(HeldOutNgrams.of(held_out, 13), run)
    assert found.held_out_documents == {"news": 1, "wiki": 1}
    assert found.training_documents == 2
    assert contamination(HeldOutNgrams.of(held_out, 12), run).held_out_documents == {
        "news": 2,
        "wiki": 1,
    }


def test_contamination_matches_a_recount_of_word_ngrams(tmp_path):
    """Training documents splice in pieces of held-out documents, 8 to 20 words long."""
    draw = random.Random(5)
    vocabulary = [f"w{k}" for k in range(40)]
    held_out = [" ".join(draw.choices(vocabulary, k=draw.randint(5, 60))) for _ in range(150)]
    documents = {}
    for number in range(300):
        text = draw.choices(vocabulary, k=draw.randint(0, 30))
        source = words(draw.choice(held_out))
        start = draw.randint(0, len(source))
        text[draw.randint(0, len(text)) :] = source[start : start + draw.randint(8, 20)]
        documents[f"d{number}"] = ", ".join(text).upper()
    trained = [name for name in documents if draw.random() < 0.8]
    run = write_run(tmp_path / "run", documents, trained)
    sources = [
        HeldOutSource("a", pa.array(held_out[:100]), [], 0, Counter()),
        HeldOutSource("b", pa.array(held_out[100:]), [], 0, Counter()),
    ]
    found = contamination(HeldOutNgrams.of(sources, 13), run)

    trained_grams = [ngrams(documents[name], 13) for name in trained]
    every_trained = set().union(*trained_grams)
    held_grams = [ngrams(text, 13) for text in held_out]
    quoted = [bool(grams & every_trained) for grams in held_grams]
    assert found.held_out_documents == {"a": sum(quoted[:100]), "b": sum(quoted[100:])}
    every_held = set().union(*held_grams)
    assert found.training_documents == sum(bool(grams & every_held) for grams in trained_grams)
    assert 0 < sum(quoted) < len(held_out)
