"""`tokenmill validate` and the generated config reference (docs/config.md)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from pipeline.cli import main
from pipeline.config_reference import DOCS, render_reference
from support.token_runs import write_token_run
from tests.conftest import ROOT, SAMPLE


def test_the_config_reference_is_current():
    assert DOCS.read_text(encoding="utf-8") == render_reference(), (
        "docs/config.md is stale: run `python -m pipeline.config_reference`"
    )


def test_the_reference_describes_every_key():
    undocumented = [
        line.split("`")[1]
        for line in render_reference().splitlines()
        if line.startswith("| `") and line.endswith("|  |")
    ]
    assert not undocumented, f"keys without a docstring under their field: {undocumented}"


def write_job(folder, **extra) -> str:
    config = {
        "name": "check",
        "output": "out",
        "inputs": [
            {"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]},
            {"source": "web", "format": "warc", "paths": [str(SAMPLE / "web-*.warc.gz")]},
        ],
        "stages": ["extract", "language", {"dedup": {"exact": True}}, "pii"],
        **extra,
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_validate_prints_the_resolved_config_and_the_plan(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mixture = {"mixture": {"weights": {"wiki": 3, "web": 1}}}
    assert main(["validate", write_job(tmp_path, **mixture)]) == 0
    shown = capsys.readouterr()
    resolved = yaml.safe_load(shown.out)
    assert resolved["output"] == str(tmp_path / "out")
    assert resolved["execution"]["batch_size"] == 512  # defaults filled in
    assert shown.err.splitlines() == [
        "inputs: 4 shards (wiki: 1 jsonl file, web: 3 warc files)",
        "segment 1: extract → language (a task per shard)",
        "phase: dedup (global, over every shard)",
        "segment 2: pii (a task per shard)",
        "tokens: weights web 1, wiki 3; a 8192-token BPE trained on the run's documents",
        f"output: {tmp_path / 'out'} (a new run)",
        f"{tmp_path / 'job.yaml'}: valid",
    ]
    assert not (tmp_path / "out").exists()
    limited = ["--set", "inputs.0.limit=1000", "--set", "inputs.1.limit=10"]
    assert main(["validate", str(tmp_path / "job.yaml"), *limited]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "inputs: 4 shards (wiki: the first 1,000 documents of 1 jsonl file, "
        "web: the first 10 documents of each of 3 warc files)"
    )


def test_validate_stops_at_the_first_problem_naming_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_job(tmp_path, tokenizer={"train": {"vocab_size": 600}})
    assert main(["validate", path]) == 2
    assert capsys.readouterr().err.replace("\n", " ").strip() == (
        f"config error: {path}: tokenizer: only the token shards use it, and they need a "
        "`mixture:` section (`mixture: {}` writes every source once)"
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("someone else's")
    assert main(["validate", write_job(tmp_path)]) == 2
    assert capsys.readouterr().err.replace("\n", " ").strip() == (
        f"config error: output: {tmp_path / 'out'} holds files that are not a tokenmill run "
        "(notes.txt); give the run a folder of its own (e.g. runs/NAME)"
    )


def test_validate_checks_a_training_configs_runs(tmp_path, capsys):
    run = write_token_run(tmp_path / "run", {"web": ["one two three"] * 20}, {})
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output": str(tmp_path / "train"),
                "data": {"runs": [{"path": str(run)}], "seq_len": 16},
                "model": {"preset": "tiny"},
                "train": {"steps": 5, "global_batch_tokens": 256, "micro_batch_size": 4},
            }
        )
    )
    assert main(["validate", str(config), "--nproc", "2"]) == 0
    plan = capsys.readouterr().err
    assert f"run: {run} (2 training shards, weight 1)" in plan
    assert "5 × 256 tokens = 1,280 tokens, 2 micro-batches of 4 per rank per step on 2 ranks" in (
        plan
    )
    (run / "tokens" / "train-00000.parquet").unlink()
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"data.runs: {run / 'tokens' / 'train-00000.parquet'}: listed in" in err
    other = write_token_run(tmp_path / "other", {"web": ["four five six"] * 20}, {})
    runs = f"data.runs=[{{path: {other}}}, {{path: {tmp_path / 'other2'}}}]"
    shutil.copytree(other, tmp_path / "other2")
    (tmp_path / "other2" / "tokenizer" / "tokenizer.json").write_bytes(
        (run / "tokenizer" / "tokenizer.json").read_bytes()
    )
    assert main(["validate", str(config), "--set", runs]) == 2
    assert (
        capsys.readouterr()
        .err.replace("\n", "")
        .startswith(  # was `data.runs: data.runs:`
            f"config error: data.runs: {tmp_path / 'other2' / 'tokenizer' / 'tokenizer.json'} is not "
        )
    )


def test_a_manifest_url_that_is_missing_or_unreachable_says_which(tmp_path, capsys):
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        missing = f"http://127.0.0.1:{server.server_port}/no/warc.paths.gz"
        unreachable = "http://127.0.0.1:1/warc.paths.gz"
        for url, why in (
            (missing, "not found"),
            (unreachable, "could not be read: Cannot connect"),
        ):
            path = tmp_path / "job.yaml"
            inputs = [{"source": "web", "format": "warc", "paths": [url]}]
            path.write_text(yaml.safe_dump({"name": "cc", "output": "out", "inputs": inputs}))
            assert main(["validate", str(path), "--set", "stages=[extract]"]) == 2
            err = capsys.readouterr().err.replace("\n", "")
            assert f"inputs[0].paths: manifest '{url}' {why}" in err
    finally:
        server.shutdown()


def test_debug_shows_the_traceback_of_an_error(tmp_path):
    from pipeline.schema import ConfigError

    with pytest.raises(ConfigError, match="config file not found"):
        main(["--debug", "validate", str(tmp_path / "missing.yaml")])


def test_a_training_path_that_is_not_there_is_named_before_any_rank_starts(tmp_path, capsys):
    config = tmp_path / "sft.yaml"
    missing = tmp_path / "gsm8k-train.jsonl"
    config.write_text(
        yaml.safe_dump(
            {
                "output": str(tmp_path / "sft"),
                "data": {"train": str(missing), "tokenizer": str(config)},
                "train": {"steps": 1},
            }
        )
    )
    assert main(["sft", str(config)]) == 2
    assert capsys.readouterr().err.replace("\n", "") == (
        f"config error: {config}: data.train: not found: {missing}"
    )
    assert main(["sft", str(config), "--set", f"data.train={tmp_path}"]) == 2
    assert capsys.readouterr().err.replace("\n", "") == (
        f"config error: {config}: data.train: a folder, not a file: {tmp_path}"
    )
    assert main(["sft", str(config), "--set", f"data.train={tmp_path}/*.jsonl"]) == 2
    assert capsys.readouterr().err.replace("\n", "") == (  # was `not found`
        f"config error: {config}: data.train: a glob, not a file (wildcards are not expanded "
        f"here): {tmp_path}/*.jsonl"
    )


def test_a_run_to_train_on_without_token_shards_is_named_before_any_rank_starts(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "tokens").mkdir(parents=True)
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output": str(tmp_path / "tiny"),
                "data": {"runs": [{"path": str(run)}]},
                "train": {"steps": 1, "global_batch_tokens": 2048},
            }
        )
    )
    why = "holds no token shards (no tokens/manifest.json): give a pipeline run's output folder"
    assert main(["train", str(config)]) == 2
    assert f"config error: {config}: data.runs.0.path: {run} {why}" in capsys.readouterr().err
    (run / "tokens" / "manifest.json").write_text("{}")
    assert main(["train", str(config), "--set", f"data.runs=[{{path: {run}/tokens}}]"]) == 2
    assert capsys.readouterr().err.replace("\n", "").endswith(f"; did you mean {run}?")


@pytest.mark.parametrize(
    ("text", "overrides", "error"),
    [
        (
            b"name: x\ninputs: [\n",
            [],
            "job.yaml: not valid YAML: line 3, column 1: expected the node content, but found "
            "'<stream end>' (while parsing a flow node)",
        ),
        (
            b"name: x\n\tkey: 1\n",
            [],
            "job.yaml: not valid YAML: line 2, column 1: found character '\\t' that cannot "
            "start any token (while scanning for the next token)",
        ),
        (b"name: x\n\xff\n", [], "job.yaml: not valid YAML: byte 8 is not utf-8 text"),
        (b"name: \x07\n", [], "job.yaml: not valid YAML: character U+0007 at 6"),
        (b"name: x\n", ["--set", "name=["], "--set name: not valid YAML: line 1, column 2"),
        (  # PyYAML kept the last of the two
            b"name: x\noutput: runs/a\noutput: runs/b\n",
            [],
            "job.yaml: not valid YAML: line 3, column 1: output is given twice in one mapping "
            "(first at line 2, column 1); give it once",
        ),
        (
            b"name: x\n",
            ["--set", "stages.language={keep: [en], keep: [de]}"],
            "--set stages.language: not valid YAML: line 1, column 14: keep is given twice",
        ),
        (b"inputs: " + b"[" * 5000 + b"]" * 5000, [], "job.yaml: lists or mappings nested too"),
        (b"name: x\n", ["--set", "name=" + "{a: " * 5000], "--set name: lists or mappings nested"),
    ],
)
def test_a_config_that_is_not_yaml_is_one_line_saying_where(
    tmp_path, capsys, text, overrides, error
):
    path = tmp_path / "job.yaml"
    path.write_bytes(text)
    assert main(["validate", str(path), *overrides]) == 2
    printed = " ".join(capsys.readouterr().err.split())
    assert printed.startswith("config error: ") and error in printed
    assert "Traceback" not in printed and "^" not in printed
    assert main(["validate", str(tmp_path)]) == 2
    printed = " ".join(capsys.readouterr().err.split())
    assert printed == f"config error: {tmp_path}: a folder, not a config file"


def test_a_key_a_merge_brings_may_be_given_again():
    from pipeline.schema import parse_yaml

    text = "base: &base {lr: 1, steps: 2}\ntrain: {<<: *base, lr: 3}\n"
    assert parse_yaml(text, "t")["train"] == {"lr": 3, "steps": 2}
    assert parse_yaml("{1: a, '1': b}", "t") == {1: "a", "1": "b"}


def test_a_submitted_body_that_is_not_yaml_is_one_line_saying_where():
    from pipeline.schema import ConfigError
    from pipeline.service.app import parse_config

    with pytest.raises(ConfigError) as raised:
        parse_config(b"name: x\ninputs: [\n", "application/yaml")
    assert str(raised.value) == (
        "the body: not valid YAML: line 3, column 1: expected the node content, but found "
        "'<stream end>' (while parsing a flow node)"
    )
    with pytest.raises(ConfigError, match=r"^the body is not a JSON config: "):
        parse_config(b"\xff{}", "application/json")
    for nested, content_type in [(b"[" * 100_000, "application/json"), (b"{a: " * 5000, "")]:
        with pytest.raises(ConfigError, match=r"^the body: lists or mappings nested too deeply"):
            parse_config(nested, content_type)


def test_a_config_given_to_the_wrong_command_names_the_right_one(tmp_path, capsys):
    """Each kind of config given to each command that does not run it: one line naming the
    command that does, not the keys the command does not know."""
    job = write_job(tmp_path)
    sft = tmp_path / "sft.yaml"
    sft.write_text(yaml.safe_dump({"kind": "sft", "output": "sft", "data": {}, "train": {}}))
    train, ablation = (
        ROOT / "configs" / "train-tiny.yaml",
        ROOT / "configs" / "ablate-quickstart.yaml",
    )
    shown = {
        job: ("run", "a pipeline config (`inputs:`)"),
        str(sft): ("sft", "a post-training config (`kind: sft`)"),
        str(train): ("train", "a pre-training config (`data.runs:`)"),
        str(ablation): ("ablate", "an ablation config (`variants:`)"),
    }
    for path, (runs_it, what) in shown.items():
        for command in ("run", "train", "sft", "dpo", "ablate", "estimate"):
            if command == runs_it or (command == "estimate" and runs_it == "run"):
                continue
            assert main([command, path]) == 2, (command, path)
            told = " ".join(capsys.readouterr().err.split())
            assert told == f"config error: {path}: {what}, which `tokenmill {runs_it}` runs"
    odd = tmp_path / "odd.yaml"
    odd.write_text("name: odd\n")
    assert main(["validate", str(odd)]) == 2
    assert capsys.readouterr().err.startswith(f"config error: {odd}: not a config any command")
