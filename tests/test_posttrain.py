"""Post-training: the chat template, SFT's masked and packed loss, reward models, DPO/IPO, LoRA,
HF export and import, and the commands; each learning claim on a task a tiny model can learn
(parity, judged on numbers it never saw)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed.checkpoint as dcp
import torch.nn.functional as F
from tokenizers import Tokenizer

from support.chat_tasks import (
    parity_answer,
    parity_question,
    preference_records,
    sft_records,
    split_numbers,
    write_jsonl,
    write_tokenizer,
)
from tests.conftest import CLI, ENV, ROOT, run_cli
from trainer.chat import BOS_ID, END_ID, EOS_ID, render
from trainer.chat_data import (
    hh_dialogue,
    pack,
    preference,
    preference_rows,
    prompts_within,
    read_records,
    sft_examples,
)
from trainer.checkpoint import load_model
from trainer.config import LoraConfig, TrainConfigError, validate_train_config
from trainer.errors import TrainingError
from trainer.export import export_hf
from trainer.generate import Sampling, prompt_ids, sample_ids
from trainer.lora import add_adapters, merge, reset_adapters
from trainer.model import Transformer
from trainer.model_args import preset
from trainer.objectives import DPO, SFT, Reward, reward_scores
from trainer.posttrain import PosttrainTrainer, train


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> dict[str, Path]:
    """A tokenizer, and parity data: 400 training numbers, 200 held-out ones."""
    folder = tmp_path_factory.mktemp("parity")
    train_numbers, held_out = split_numbers(400, 200)
    return {
        "tokenizer": write_tokenizer(folder / "tokenizer.json"),
        "sft": write_jsonl(sft_records(train_numbers), folder / "sft.jsonl"),
        "sft_val": write_jsonl(sft_records(held_out), folder / "sft-val.jsonl"),
        "pairs": write_jsonl(preference_records(train_numbers), folder / "pairs.jsonl"),
        "pairs_val": write_jsonl(preference_records(held_out), folder / "pairs-val.jsonl"),
    }


@pytest.fixture(scope="module")
def tokenizer(task) -> Tokenizer:
    return Tokenizer.from_file(str(task["tokenizer"]))


def tiny_model(tokenizer: Tokenizer, **overrides) -> Transformer:
    torch.manual_seed(0)
    return Transformer(preset("tiny", vocab_size=tokenizer.get_vocab_size(), **overrides))


def posttrain_config(task, output: Path, kind: str, **train) -> dict:
    data_file, val_file = ("sft", "sft_val") if kind == "sft" else ("pairs", "pairs_val")
    return {
        "kind": kind,
        "output": str(output),
        "data": {
            "train": str(task[data_file]),
            "val": str(task[val_file]),
            "val_examples": 200,
            "tokenizer": str(task["tokenizer"]),
            "seq_len": 24 if kind != "sft" else 64,
        },
        "model": {"preset": "tiny"},
        "train": {
            "steps": 40,
            "global_batch_tokens": 24 * 32 if kind != "sft" else 64 * 16,
            "micro_batch_size": 16 if kind != "sft" else 8,
            "lr": 3e-3,
            "warmup_steps": 5,
            "log_every": 5,
            **train,
        },
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"enabled": False},
    }


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# The chat template and the data formats.


def test_the_chat_template_trains_on_assistant_turns_and_their_end_only(tokenizer):
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": parity_question(7)},
        {"role": "assistant", "content": parity_answer(7)},
    ]
    encoded = render(tokenizer, messages)
    assert encoded.ids[0] == BOS_ID and list(encoded.ids).count(END_ID) == 3
    trained = encoded.ids[encoded.trained == 1]
    assert tokenizer.decode(trained[:-1].tolist()) == "7 is odd." and trained[-1] == END_ID
    literal = render(tokenizer, [{"role": "user", "content": "<|end|>"}])
    assert list(literal.ids).count(END_ID) == 1  # a special token's text in a message is text


def test_hh_rlhf_dialogues_become_a_prompt_and_two_answers(tokenizer):
    record = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: How do I pick a lock?\n\nAssistant: I can't help.",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: How do I pick a lock?\n\nAssistant: Use a pin.",
    }
    prompt, chosen, rejected = preference(record)
    assert [m["role"] for m in prompt] == ["user", "assistant", "user"]
    assert prompt[2]["content"] == "How do I pick a lock?"
    assert (chosen, rejected) == ("I can't help.", "Use a pin.")
    malformed = {  # as 5 of HH-RLHF's do: the chosen side runs two answers together
        "chosen": record["chosen"] + "\n\nAssistant: And more.",
        "rejected": record["rejected"],
    }
    with pytest.raises(ValueError, match="share all turns"):
        preference(malformed)
    assert len(preference_rows([record, malformed], tokenizer, 64)) == 1
    assert hh_dialogue("\n\nHuman: a\n\nAssistant:") == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": ""},
    ]


# SFT: the loss on assistant tokens only, packing, and the global normalisation.


def packed_batch(tokenizer, numbers=(12, 305, 7)):
    examples = sft_examples(sft_records(list(numbers)), tokenizer, "prompt", "response")
    rows = pack(examples, 64)
    return examples, {name: torch.from_numpy(array) for name, array in rows.arrays.items()}


def test_sft_loss_is_the_sum_over_assistant_targets_and_prompt_targets_carry_no_gradient(
    tokenizer,
):
    examples, batch = packed_batch(tokenizer)
    assert batch["inputs"].shape == (1, 64)  # all three in one row
    model = tiny_model(tokenizer)
    loss, count, _ = SFT().loss(model, batch)

    expected = sum(  # each example alone, through the full logits
        F.cross_entropy(
            model.logits(torch.from_numpy(ids[None, :-1]))[0],
            torch.from_numpy(ids[1:]),
            reduction="none",
        )[torch.from_numpy(trained[1:]) == 1].sum()
        for ids, trained in examples
    )
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    assert count == sum(int(trained[1:].sum()) for _, trained in examples)

    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    changed = dict(batch)
    untrained = batch["weights"] == 0
    changed["targets"] = torch.where(
        untrained,
        torch.randint_like(batch["targets"], 7, tokenizer.get_vocab_size()),
        batch["targets"],
    )
    assert (changed["targets"] != batch["targets"]).sum() > 20
    changed_grads = torch.autograd.grad(SFT().loss(model, changed)[0], params)
    assert all(torch.equal(a, b) for a, b in zip(grads, changed_grads, strict=True))


def test_packed_examples_attend_only_within_themselves(tokenizer):
    examples, batch = packed_batch(tokenizer)
    model = tiny_model(tokenizer)
    with torch.no_grad():
        packed = model(batch["inputs"], documents=batch["documents"])[0]
        unmasked = model(batch["inputs"])[0]
        for document, (ids, _) in enumerate(examples):
            where = batch["documents"][0] == document
            alone = model(torch.from_numpy(ids[None, :-1]))[0]
            torch.testing.assert_close(packed[where], alone, rtol=1e-5, atol=1e-5)
            if document:  # without the documents, later examples see the earlier ones
                assert not torch.allclose(unmasked[where], alone, atol=1e-3)


def gradient_norm(loss: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))


def test_the_step_loss_is_divided_by_the_global_count_of_assistant_tokens(task, tmp_path):
    """Two micro-batches with different counts of trained tokens: the loss and the gradient
    are those of their sum over the total count, not of the mean of their means."""
    data = posttrain_config(task, tmp_path / "run", "sft", grad_clip=1e9)
    data["train"]["micro_batch_size"] = 4
    data["data"]["train"] = str(
        write_jsonl(
            sft_records([3, 5])
            + [{"prompt": "Say a long one.", "response": "1 2 3 4 5 6 7 8 9 " * 3}] * 8,
            tmp_path / "mixed.jsonl",
        )
    )
    trainer = PosttrainTrainer(validate_train_config(data), "none")
    try:
        batch = next(trainer.loader)
        model = Transformer(trainer.args)
        model.load_state_dict({n: p.full_tensor() for n, p in trainer.model.state_dict().items()})
        sums, counts = [], []
        for micro in batch.micro_batches():
            loss, count, _ = SFT().loss(model, micro)
            sums.append(loss)
            counts.append(count)
        expected = sum(sums) / sum(counts)
        mean_of_means = sum(s / c for s, c in zip(sums, counts, strict=True)) / len(sums)
        grad_norm, other_norm = (gradient_norm(loss, model) for loss in (expected, mean_of_means))
        print(
            f"trained tokens per micro-batch {[int(c) for c in counts]}; gradient norm "
            f"{grad_norm:.4f} (global count), {other_norm:.4f} (mean of micro-batch means)"
        )
        assert batch.count == sum(counts) and len(set(counts)) > 1
        assert abs(grad_norm - other_norm) > 5e-3 * grad_norm  # 50× the tolerance below
        result = trainer.train_step(batch, 0.0)
        torch.testing.assert_close(result["loss"], expected.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(result["grad_norm"], grad_norm, rtol=1e-4, atol=1e-6)
    finally:
        trainer.close()


def test_epochs_set_the_run_length_when_steps_is_zero(task, tmp_path):
    data = posttrain_config(task, tmp_path, "reward", steps=0, epochs=2)
    trainer = PosttrainTrainer(validate_train_config(data), "none")
    try:  # 400 pairs, 32 a step: 12 full steps an epoch
        assert trainer.config.train.steps == 24
    finally:
        trainer.close()


def test_malformed_records_are_left_out_and_counted(task, tokenizer, tmp_path, capsys):
    """A line that is not a JSON object, and a record whose fields are missing or not text,
    are left out and counted, for every objective: one bad record does not end a run."""
    good = sft_records([3, 4])
    malformed = [
        {"prompt": "Is 5 odd?"},
        {"prompt": "Is 5 odd?", "response": 5},
        {"messages": "hi"},
        {"messages": [{"role": "robot", "content": "beep"}]},
        {"messages": [{"role": "user"}]},
    ]
    lines = [json.dumps(r).encode() for r in good + malformed]
    path = tmp_path / "sft.jsonl"
    path.write_bytes(b"\n".join([*lines, b"not json", b"\xff\xfe", b"[1, 2]", b""]))
    data = posttrain_config(task, tmp_path / "run", "sft", steps=1)
    data["data"].update(train=str(path), val=None, val_examples=1)
    trainer = PosttrainTrainer(validate_train_config(data), "none")
    trainer.close()
    printed = capsys.readouterr().out
    assert f"3 lines of {path} left out: not a JSON object" in printed
    assert "5 of 7 conversations left out: malformed" in printed
    assert trainer.data.train_count + trainer.data.val_count == 2
    pairs = [
        {"prompt": "Is 3 odd?", "chosen": "3 is odd.", "rejected": "3 is even."},
        {"prompt": "Is 3 odd?", "chosen": "3 is odd."},
        {"prompt": 3, "chosen": "3 is odd.", "rejected": "3 is even."},
        {"chosen": None, "rejected": "3 is even."},
    ]
    assert len(preference_rows(pairs, tokenizer, 24)) == 1
    prompts = [{"prompt": "Is 3 odd?"}, {"prompt": None}, {"messages": 7}, {"question": "?"}]
    assert prompts_within(prompts, tokenizer, "prompt", 24)[0] == prompts[:1]


def test_records_of_fields_the_config_does_not_name_are_an_error_listing_theirs(task, tmp_path):
    """TRL's prompt-completion records under the default `response` key: every one left
    out, and the error says what the records do have."""
    path = tmp_path / "trl.jsonl"
    records = [{"prompt": f"Is {n} odd?", "completion": "Yes.", "id": n} for n in range(8)]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    data = posttrain_config(task, tmp_path / "run", "sft", steps=1)
    data["data"].update(train=str(path), val=None, val_examples=1)
    with pytest.raises(TrainingError, match=r"; its records have: prompt, completion, id$"):
        PosttrainTrainer(validate_train_config(data), "none")
    data["data"]["response_key"] = "completion"
    PosttrainTrainer(validate_train_config(data), "none").close()


def test_records_come_from_a_json_array_and_an_unreadable_file_is_named(tmp_path):
    """A .json file that is one array (alpaca_data.json; as `datasets` reads it) gives its
    objects; a file that is not Parquet, or a cut gzip, is one line naming it."""
    array = tmp_path / "alpaca.json"
    array.write_text(json.dumps([{"prompt": "a", "response": "b"}, 3, {"prompt": "c"}], indent=1))
    assert read_records(str(array)) == ([{"prompt": "a", "response": "b"}, {"prompt": "c"}], 1)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    packed = gzip.compress(b'{"prompt": "a"}\n' * 99)
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[:30])
    (tmp_path / "flipped.jsonl.gz").write_bytes(packed[:10] + b"\xff" + packed[11:])  # zlib.error
    (tmp_path / "empty.json").write_text("[]")
    assert read_records(str(tmp_path / "empty.json")) == ([], 0)
    for name, problem in [
        ("bad.parquet", "not a Parquet file"),
        ("cut.jsonl.gz", "a damaged or cut gzip file"),
        ("flipped.jsonl.gz", "a damaged or cut gzip file"),
    ]:
        with pytest.raises(TrainingError, match=f"^{tmp_path / name}: {problem}"):
            read_records(str(tmp_path / name))


def test_conversations_cut_to_a_row_are_counted_and_those_left_untrained_left_out(
    task, tmp_path, capsys
):
    """An SFT example longer than `data.seq_len` is cut to it and counted; one whose prompt
    alone fills the row has nothing left to train on: left out, as TRL's SFTTrainer drops it."""
    short = sft_records([3, 4, 5])
    long_prompt = {"prompt": "Is 3 odd? " * 40, "response": "3 is odd."}
    long_answer = {"prompt": "Is 3 odd?", "response": "3 is odd. " * 40}
    path = write_jsonl([*short, long_prompt, long_answer], tmp_path / "sft.jsonl")
    data = posttrain_config(task, tmp_path / "run", "sft", steps=1)
    val = write_jsonl(sft_records([6]), tmp_path / "val.jsonl")
    data["data"].update(train=str(path), val=str(val))
    trainer = PosttrainTrainer(validate_train_config(data), "none")
    trainer.close()
    printed = capsys.readouterr().out
    assert "1 of 6 conversations left out: no response token within data.seq_len 64" in printed
    assert "1 of 6 conversations cut to data.seq_len 64" in printed
    assert len(trainer.data.examples) == 4 and len(trainer.data.val_rows) == 1
    assert max(len(ids) for ids, _ in trainer.data.examples) > 65  # the cut one, cut by `pack`


def test_validate_reads_the_data_as_the_run_will(task, tmp_path, capsys):
    """`tokenmill validate` of a post-training config says what its run would train on and
    leave out, and refuses one that would have nothing to train on, before any model."""
    from pipeline.schema import ConfigError
    from pipeline.validate import describe_training

    path = tmp_path / "sft.jsonl"
    lines = [json.dumps(r) for r in [*sft_records([3, 4, 5]), {"prompt": 1}, {"prompt": 2}]]
    path.write_text("\n".join([*lines, "not json"]))
    data = posttrain_config(task, tmp_path / "run", "sft", steps=1)
    data["data"].update(train=str(path), val=None, val_examples=1)
    plan = describe_training(validate_train_config(data), 1)
    assert plan[1:4] == [
        "data: 2 conversations to train on, 1 held out",
        f"data: 1 lines of {path} left out: not a JSON object",
        "data: 2 of 5 conversations left out: malformed (`messages` or `prompt`/`response` "
        "missing or not text, or a role the chat template lacks)",
    ]
    PosttrainTrainer(validate_train_config(data), "none").close()
    printed = capsys.readouterr().out.splitlines()
    assert printed == [line.removeprefix("data: ") for line in plan[2:4]]  # as the run says
    path.write_text('{"foo": 1}\n{"foo": 2}\n')
    nothing = (
        f"data.train: {path}: no conversations to train on (an empty file, or every record "
        "left out: 2 of 2 conversations left out: malformed"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(nothing)}.*; its records have: foo$"):
        describe_training(validate_train_config(data), 1)


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_a_run_with_nothing_to_train_on_stops_on_one_line(task, tmp_path, kind):
    """No record to train on (an empty file; one gzipped under a .jsonl name, each line then
    not JSON; records all malformed) is an error naming the file: the loader waited forever
    for a row. So is a default hold-out that takes every record."""
    from pipeline.launch import launch
    from pipeline.schema import ConfigError

    path = tmp_path / "data.jsonl"
    data = posttrain_config(task, tmp_path / "run", kind, steps=1)
    data["data"].update(train=str(path), val=None, val_examples=1)
    what = "conversations" if kind == "sft" else "pairs"
    for content in (b"", gzip.compress(b'{"prompt": "a"}\n' * 9), b'{"foo": 1}\n' * 9):
        path.write_bytes(content)
        with pytest.raises(TrainingError, match=f"^{path}: no {what} to train on"):
            PosttrainTrainer(validate_train_config(data), "none")
    shutil.copy(task["sft" if kind == "sft" else "pairs"], path)
    held_out = len(path.read_text().splitlines())
    data["data"]["val_examples"] = held_out
    with pytest.raises(TrainConfigError, match=f"^data.val_examples: holding out {held_out} of"):
        PosttrainTrainer(validate_train_config(data), "none")
    with pytest.raises(ConfigError, match=f"^data.val_examples: holding out {held_out} of"):
        launch(validate_train_config(data), 1, None, "none")  # the CLI's one line, not a trace


@pytest.mark.slow
def test_a_rank_that_fails_under_torchrun_says_so_on_one_line(task, tmp_path):
    """Both ranks fail alike: the error is said once. Each rank printed it, torchrun then
    named the rank and the CLI said `torchrun exited with status 1: what the ranks said is
    above` (four lines, or three when torchrun stopped a rank before it printed)."""
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    data = posttrain_config(task, tmp_path / "run", "sft", steps=1)
    data["data"].update(train=str(path), val=None, val_examples=1)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(data))
    done = run_cli(["sft", str(config), "--nproc", "2"])
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    error = f"training error: {path}: no conversations to train on (an empty file, or every"
    assert lines[-1].startswith(error)
    assert not any("error" in line for line in lines[:-1]), lines
    assert "Traceback" not in done.stderr


def test_a_rank_stopped_by_a_signal_is_named_by_it():
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from pipeline.torchrun import first_failure

    killed = ProcessFailure(local_rank=1, pid=1, exitcode=-9, error_file="")
    assert first_failure(ChildFailedError("trainer.train", {1: killed})) == (
        "rank 1 was stopped by SIGKILL"
    )


# Preference objectives against their formulas.


def test_dpo_ipo_and_reward_losses_match_their_formulas(tokenizer):
    records = preference_records([4, 71, 938])
    rows = preference_rows(records, tokenizer, 24)
    batch = {name: torch.from_numpy(array) for name, array in rows.arrays.items()}
    batch["reference"] = -torch.rand(3, 2) * 30
    model = tiny_model(tokenizer, num_labels=1)

    def answer_logps(normalize: bool) -> torch.Tensor:
        out = torch.empty(3, 2)
        for pair, record in enumerate(records):
            prompt, *answers = preference(record)
            for side, answer in enumerate(answers):
                encoded = render(tokenizer, [*prompt, {"role": "assistant", "content": answer}])
                ids, mask = torch.from_numpy(encoded.ids), torch.from_numpy(encoded.trained[1:])
                logps = model.logits(ids[None, :-1])[0].log_softmax(-1)
                token = logps.gather(1, ids[1:, None]).squeeze(1)[mask == 1]
                out[pair, side] = token.mean() if normalize else token.sum()
        return out

    beta = 0.3
    for loss_type, normalize in [("sigmoid", False), ("sigmoid", True), ("ipo", False)]:
        logps = answer_logps(normalize)
        h = (logps[:, 0] - batch["reference"][:, 0]) - (logps[:, 1] - batch["reference"][:, 1])
        expected = (
            (h - 1 / (2 * beta)).pow(2).sum()
            if loss_type == "ipo"
            else -F.logsigmoid(beta * h).sum()
        )
        loss, count, metrics = DPO(beta, loss_type, normalize).loss(model, batch)
        torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(metrics["margin"], (beta * h).sum(), rtol=1e-4, atol=1e-4)
        assert count == 3

    trimmed = rows.micro_batches(3)[0]  # cut after the last trained position: the same loss
    assert trimmed["inputs"].shape[-1] < 24
    trimmed["reference"] = batch["reference"]
    torch.testing.assert_close(DPO(beta).loss(model, trimmed)[0], DPO(beta).loss(model, batch)[0])

    scores = torch.empty(3, 2)
    for pair, record in enumerate(records):
        prompt, *answers = preference(record)
        for side, answer in enumerate(answers):
            ids = render(tokenizer, [*prompt, {"role": "assistant", "content": answer}]).ids
            assert ids[-1] == END_ID
            scores[pair, side] = model.score(model(torch.from_numpy(ids[None]))[0, -1])[0]
    loss, _, metrics = Reward().loss(model, batch)
    torch.testing.assert_close(loss, -F.logsigmoid(scores[:, 0] - scores[:, 1]).sum())


# LoRA.


def test_lora_starts_at_the_base_model_and_merges_into_base_plus_scaled_product(tokenizer):
    base = tiny_model(tokenizer)
    tokens = torch.randint(7, tokenizer.get_vocab_size(), (2, 12))
    config = LoraConfig(rank=4, alpha=8.0, targets=["q_proj", "down_proj"])
    model = add_adapters(tiny_model(tokenizer), config)
    reset_adapters(model, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(model.logits(tokens), base.logits(tokens))
        trained = {n for n, p in model.named_parameters() if p.requires_grad}
        assert trained and all("lora_" in n for n in trained)
        for name, param in model.named_parameters():
            if name.endswith("lora_b"):
                param.normal_()
        layer = model.layers[1].mlp.down_proj
        expected = layer.weight + layer.lora_b @ layer.lora_a * (8.0 / 4)
        before = model.logits(tokens)
    merge(model)
    with torch.no_grad():
        assert (model.layers[1].mlp.down_proj.weight - expected).abs().max() <= 1e-5
        torch.testing.assert_close(model.logits(tokens), before, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("lora", {"targets": ["q_proj", "attn"]}, "lora.targets.1: 'attn' is not one of 'q_proj'"),
        ("grpo", {"clip": 1.5}, "grpo.clip: must be less than 1, got 1.5"),
    ],
)
def test_lora_targets_and_grpo_clip_out_of_their_range_are_config_errors(
    task, tmp_path, section, value, message
):
    data = {**posttrain_config(task, tmp_path, "grpo"), "init_from": "base", section: value}
    with pytest.raises(TrainConfigError, match=re.escape(message)):
        validate_train_config(data, "job.yaml")


def test_a_lora_rank_beyond_a_target_layer_s_is_a_config_error(tokenizer):
    add_adapters(tiny_model(tokenizer, n_kv_heads=1), LoraConfig(rank=16, targets=["k_proj"]))
    with pytest.raises(TrainConfigError, match=r"^lora.rank: 17 is more than .*k_proj can have"):
        model = tiny_model(tokenizer, n_kv_heads=1)  # k_proj: 16 × 64
        add_adapters(model, LoraConfig(rank=17, targets=["k_proj"]))


# Learning, on held-out numbers.


@pytest.fixture(scope="module")
def sft_run(task, tmp_path_factory) -> dict:
    """SFT from scratch; the held-out response loss before and after training."""
    output = tmp_path_factory.mktemp("sft") / "run"
    data = posttrain_config(task, output, "sft", steps=80, log_every=10)
    data["checkpoint"] = {"enabled": True}
    trainer = PosttrainTrainer(validate_train_config(data), "none")
    try:
        before = trainer.validate()["val_loss"]
        after = trainer.train()["val_loss"]
    finally:
        trainer.close()
    print(f"SFT held-out response loss: {before:.3f} before, {after:.3f} after")
    return {"before": before, "after": after, "checkpoint": output / "checkpoints" / "step-0000080"}


@pytest.mark.slow
def test_sft_lowers_the_held_out_response_loss(sft_run):
    assert sft_run["after"] < 0.5 * sft_run["before"]


@pytest.mark.slow
def test_reward_model_ranks_held_out_pairs_and_exports_as_a_classifier(task, tokenizer, tmp_path):
    from transformers import AutoModelForSequenceClassification

    data = posttrain_config(task, tmp_path, "reward", steps=80)
    data["checkpoint"] = {"enabled": True}
    result = train(validate_train_config(data))
    print(f"reward model held-out pair accuracy {result['val_accuracy']:.3f}")
    assert result["val_accuracy"] >= 0.9

    checkpoint = tmp_path / "checkpoints" / "step-0000080"
    rows = preference_rows(preference_records([5, 868]), tokenizer, 24)
    batch = {name: torch.from_numpy(array) for name, array in rows.arrays.items()}
    classifier = AutoModelForSequenceClassification.from_pretrained(
        export_hf(checkpoint, tmp_path / "hf")
    )
    with torch.no_grad():
        ours = reward_scores(load_model(checkpoint), batch)
        full = torch.cat([batch["inputs"][..., :1], batch["targets"]], dim=-1).flatten(0, 1)
        theirs = classifier(full).logits.view(2, 2)  # right padding: read at the last non-pad
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_dpo_ranks_held_out_pairs_and_its_margin_grows(task, tmp_path):
    data = posttrain_config(task, tmp_path, "dpo", lr=1e-2, val_every=10)
    data["dpo"] = {"beta": 0.5}
    train(validate_train_config(data))
    rows = [row for row in metrics(tmp_path) if "val_accuracy" in row]
    margins = [row["val_margin"] for row in rows]
    print(
        "DPO held-out accuracy by step:", [(r["step"], round(r["val_accuracy"], 3)) for r in rows]
    )
    print("DPO held-out chosen-minus-rejected margin:", [round(m, 3) for m in margins])
    assert rows[-1]["val_accuracy"] >= 0.9
    assert margins[-1] > margins[0] > 0


@pytest.mark.slow
def test_ipo_runs_and_separates_the_pairs(task, tmp_path):
    data = posttrain_config(task, tmp_path, "dpo", steps=15, lr=1e-2)
    data["dpo"] = {"beta": 0.5, "loss": "ipo"}
    result = train(validate_train_config(data))
    print(f"IPO after 15 steps: loss {result['loss']:.3f}, margin {result['margin']:.3f}")
    assert np.isfinite(result["loss"]) and result["margin"] > 0


# LoRA runs: adapter-only checkpoints, exact resume, merged export.


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_lora_checkpoints_hold_adapters_resume_exactly_and_export_merged(task, sft_run, tmp_path):
    base = sft_run["checkpoint"]
    data = posttrain_config(
        task, tmp_path / "full", "sft", steps=6, lr=1e-2, schedule="constant", log_every=1
    )
    data |= {"init_from": str(base), "lora": {"rank": 4, "alpha": 8.0}}
    data["checkpoint"] = {"every": 3, "keep": 2}
    train(validate_train_config(data))
    step3, step6 = (tmp_path / "full" / "checkpoints" / f"step-000000{s}" for s in (3, 6))

    saved = dcp.FileSystemReader(str(step6)).read_metadata().state_dict_metadata
    model_keys = {k for k in saved if k.startswith("model.")}
    assert model_keys and all("lora_" in k for k in model_keys)

    resumed = tmp_path / "resumed"
    shutil.copytree(step3, resumed / "checkpoints" / step3.name)
    train(validate_train_config(data | {"output": str(resumed)}))
    full_losses = {r["step"]: r["loss"] for r in metrics(tmp_path / "full") if "loss" in r}
    resumed_losses = {r["step"]: r["loss"] for r in metrics(resumed) if "loss" in r}
    assert sorted(resumed_losses) == [4, 5, 6]
    assert all(resumed_losses[s] == full_losses[s] for s in (4, 5, 6))

    adapters = {k: torch.empty(v.size) for k, v in saved.items() if k in model_keys}
    dcp.load(adapters, checkpoint_id=str(step6))
    base_weights = load_model(base).state_dict()
    exported = export_hf(step6, tmp_path / "hf")
    from safetensors.torch import load_file

    merged = load_file(str(exported / "model.safetensors"))
    worst = 0.0
    for name, weight in base_weights.items():
        key = name if name == "lm_head.weight" else f"model.{name}"
        expected = weight
        if f"model.{name.removesuffix('weight')}lora_a" in adapters:
            a = adapters[f"model.{name.removesuffix('weight')}lora_a"]
            b = adapters[f"model.{name.removesuffix('weight')}lora_b"]
            expected = weight + b @ a * (8.0 / 4)
            assert not torch.equal(expected, weight)
        worst = max(worst, (merged[key] - expected).abs().max().item())
    print(f"LoRA merged export vs base + B·A·α/r: max abs difference {worst:.2e}")
    assert worst <= 1e-5


# Hugging Face: export with the chat template, import of Llama and Qwen3.


@pytest.mark.slow
def test_an_sft_model_exported_to_hf_answers_a_chat_as_generate_does(sft_run, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = export_hf(sft_run["checkpoint"], tmp_path / "hf")
    hf_tokenizer = AutoTokenizer.from_pretrained(folder)
    hf_model = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert hf_tokenizer("Is 4 even or odd?")["input_ids"][0] == BOS_ID
    ours = load_model(sft_run["checkpoint"])
    for number in (4, 871, 990):
        question = parity_question(number)
        chat = [{"role": "user", "content": question}]
        ids = hf_tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        assert list(ids) == prompt_ids(tokenizer, question, chat=True)
        (expected,) = sample_ids(
            ours, [list(ids)], Sampling(10, temperature=0, stop=(EOS_ID, END_ID))
        )
        out = hf_model.generate(
            torch.tensor([ids]),
            max_new_tokens=10,
            do_sample=False,
            eos_token_id=[EOS_ID, END_ID],
            pad_token_id=0,
        )[0, len(ids) :].tolist()
        if out and out[-1] in (EOS_ID, END_ID):
            out = out[:-1]
        print(f"{question} -> {tokenizer.decode(expected)!r}")
        assert out == expected


def test_a_prompt_that_fills_the_context_is_refused_in_one_line(tokenizer):
    from trainer.generate import PromptTooLong

    model = tiny_model(tokenizer, max_seq_len=16)
    with pytest.raises(PromptTooLong, match=r"^a prompt is 16 tokens; the model's context is 16$"):
        sample_ids(model, [[7] * 16], Sampling(4))
    (room,) = sample_ids(model, [[7] * 15], Sampling(4, stop=()))
    assert len(room) == 1  # the room left, not 4


def test_a_hugging_face_folder_that_cannot_give_a_model_is_named(task, tokenizer, tmp_path):
    from safetensors.torch import save_file

    from pipeline.schema import ConfigError
    from pipeline.validate import describe_training
    from trainer.hf_import import HFImportError

    model = tiny_model(tokenizer)
    args = model.args
    config = {
        "model_type": "llama",
        "vocab_size": args.vocab_size,
        "hidden_size": args.dim,
        "num_hidden_layers": args.n_layers,
        "num_attention_heads": args.n_heads,
        "num_key_value_heads": args.n_kv_heads,
        "intermediate_size": args.ffn_dim,
        "rms_norm_eps": args.norm_eps,
        "max_position_embeddings": args.max_seq_len,
    }
    folder = tmp_path / "hf"
    folder.mkdir()
    weights = folder / "model.safetensors"
    save_file({name: t.contiguous() for name, t in model.state_dict().items()}, weights)
    (folder / "config.json").write_text(json.dumps(config))
    tokens = torch.randint(7, args.vocab_size, (1, 8))
    torch.testing.assert_close(load_model(folder).logits(tokens), model.logits(tokens))
    sft = posttrain_config(task, tmp_path / "run", "sft") | {"init_from": str(folder)}
    for change, error in (
        (
            {"intermediate_size": 2 * args.ffn_dim},
            "model.safetensors: does not fit config.json (size",
        ),
        ({"rms_norm_eps": None}, "config.json: no `rms_norm_eps`"),
        # loaded past, these gave other logits than transformers' (0.004 to 0.34 apart)
        ({"rope_parameters": {"rope_type": "llama3", "factor": 8.0}}, "rope_type 'llama3'; only"),
        ({"rope_scaling": {"type": "linear", "factor": 4.0}}, "rope_type 'linear'; only"),
        ({"hidden_act": "gelu"}, "hidden_act 'gelu'; only silu"),
        ({"use_sliding_window": True}, "use_sliding_window is true, and our attention covers"),
        ({"layer_types": ["sliding_attention"] * 2}, "layer_types other than full_attention"),
        ({"attention_bias": True}, "attention_bias is true, and our attention has no biases"),
    ):
        edited = {**config, **change}
        (folder / "config.json").write_text(json.dumps({k: v for k, v in edited.items() if v}))
        with pytest.raises(HFImportError, match=f"^{re.escape(str(folder))}/.*{re.escape(error)}"):
            load_model(folder)
        if not error.startswith("model.safetensors"):  # `validate` reads config.json only
            with pytest.raises(ConfigError, match=re.escape(f"init_from: {folder}")):
                describe_training(validate_train_config(sft), 1)
    (folder / "config.json").write_text(json.dumps(config | {"vocab_size": 100}))
    fewer = f"{folder} embeds 100 token ids, and the tokenizer {task['tokenizer']} has {args.vocab_size}"
    with pytest.raises(ConfigError, match=re.escape(fewer)):  # was an IndexError mid-run
        describe_training(validate_train_config(sft), 1)
    (folder / "config.json").write_text(json.dumps(config | {"max_position_embeddings": 32}))
    shorter = f"data.seq_len: 64 is more than the max_seq_len 32 of init_from {folder}"
    with pytest.raises(ConfigError, match=re.escape(shorter)):  # was a ValueError mid-run
        describe_training(validate_train_config(sft), 1)
    (folder / "config.json").write_text(json.dumps(config))
    weights.write_bytes(b"not safetensors")
    with pytest.raises(HFImportError, match=re.escape(f"{weights}: ")):
        load_model(folder)
    weights.unlink()
    with pytest.raises(HFImportError, match=re.escape(f"{weights}: missing")):
        load_model(folder)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_a_hugging_face_model_is_a_starting_point(family, task, tmp_path):
    import transformers

    config_class = {"llama": transformers.LlamaConfig, "qwen3": transformers.Qwen3Config}[family]
    model_class = {"llama": transformers.LlamaForCausalLM, "qwen3": transformers.Qwen3ForCausalLM}[
        family
    ]
    vocab = Tokenizer.from_file(str(task["tokenizer"])).get_vocab_size()
    torch.manual_seed(0)
    hf_model = model_class(
        config_class(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=128,
            tie_word_embeddings=family == "qwen3",
        )
    ).eval()
    folder = tmp_path / "hf"
    hf_model.save_pretrained(folder)
    shutil.copy(task["tokenizer"], folder / "tokenizer.json")
    tokens = torch.randint(7, vocab, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(
            load_model(folder).logits(tokens), hf_model(tokens).logits, rtol=1e-4, atol=1e-4
        )
    data = posttrain_config(task, tmp_path / "run", "sft", steps=2)
    data["init_from"] = str(folder)
    del data["data"]["tokenizer"], data["model"]
    trainer = PosttrainTrainer(validate_train_config(data), "none")
    try:
        started = {n: p.full_tensor() for n, p in trainer.model.state_dict().items()}
        assert torch.equal(
            started["layers.1.mlp.up_proj.weight"], hf_model.model.layers[1].mlp.up_proj.weight
        )
        assert np.isfinite(trainer.train()["val_loss"])
    finally:
        trainer.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_two_fsdp_ranks_train_as_one_process(kind, task, tmp_path):
    """Each rank takes its slice of the global batch; the loss is still divided by the global
    count (of assistant tokens, or pairs), and DPO's reference is computed on every rank."""
    data = posttrain_config(task, tmp_path / "one", kind, steps=4, log_every=1, micro_batch_size=4)
    train(validate_train_config(data))
    data["output"] = str(tmp_path / "two")
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(data))
    subprocess.run([*CLI, kind, str(config), "--nproc", "2"], env=ENV, check=True, timeout=300)
    one, two = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    assert [row["step"] for row in two] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-5)
    assert two[-1]["val_loss"] == pytest.approx(one[-1]["val_loss"], rel=1e-5)


# The commands.


def test_each_post_training_command_has_help():
    for kind in ("sft", "reward", "dpo"):
        done = run_cli([kind, "--help"])
        assert done.returncode == 0 and "init_from" in done.stdout


@pytest.mark.slow
@pytest.mark.corpora
def test_gsm8k_sft_then_hh_rlhf_dpo_smoke_runs(task, corpora, tmp_path):
    posttrain = corpora / "posttrain"
    common = ["--set", f"data.tokenizer={task['tokenizer']}", "--set", "train.steps=3"]
    common += ["--set", "data.max_examples=64", "--set", "checkpoint.every=0"]
    subprocess.run(
        [
            *CLI,
            "sft",
            "configs/sft-gsm8k.yaml",
            "--output",
            str(tmp_path / "sft"),
            *common,
            "--set",
            "init_from=null",
            "--set",
            "data.val_examples=16",
            # The config names the corpora relative to a checkout beside them; CI's may not be.
            "--set",
            f"data.train={posttrain / 'gsm8k-train.jsonl'}",
            "--set",
            f"data.val={posttrain / 'gsm8k-test.jsonl'}",
        ],
        env=ENV,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    sft = tmp_path / "sft" / "checkpoints" / "step-0000003"
    subprocess.run(
        [
            *CLI,
            "dpo",
            "configs/dpo-hh.yaml",
            "--output",
            str(tmp_path / "dpo"),
            *common,
            "--set",
            f"init_from={sft}",
            "--set",
            "data.val_examples=16",
            "--set",
            f"data.train={posttrain / 'hh-rlhf-harmless-test.jsonl.gz'}",
        ],
        env=ENV,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    sft_rows, dpo_rows = metrics(tmp_path / "sft"), metrics(tmp_path / "dpo")
    assert sft_rows[-1]["step"] == 3 and np.isfinite(sft_rows[-1]["val_loss"])
    assert dpo_rows[-1]["step"] == 3 and "val_accuracy" in dpo_rows[-1]
    with gzip.open(posttrain / "hh-rlhf-harmless-test.jsonl.gz", "rt") as handle:
        assert preference(json.loads(next(handle)))[1]


def test_a_post_training_config_runs_under_its_own_command_and_is_submitted_as_one(task, tmp_path):
    from pipeline.config_kind import config_kind
    from pipeline.launch import load_train_config
    from pipeline.schema import ConfigError
    from pipeline.submit import prepare
    from pipeline.validate import describe_training

    path = tmp_path / "dpo.yaml"
    path.write_text(json.dumps(posttrain_config(task, tmp_path / "run", "dpo")))
    assert load_train_config(str(path), [], kind="dpo").kind == "dpo"
    with pytest.raises(
        ConfigError, match=r"a post-training config \(`kind: dpo`\), which `tokenmill dpo` runs"
    ):
        load_train_config(str(path), [], kind="sft")
    with pytest.raises(ConfigError, match=r"dpo\.beta: must be greater than 0"):
        load_train_config(str(path), ["dpo.beta=0"], kind="dpo")
    assert config_kind(posttrain_config(task, tmp_path, "reward"), "reward.yaml") == "reward"
    job = prepare(posttrain_config(task, tmp_path / "run", "dpo"), "dpo.yaml", nproc=2)
    assert job.kind == "dpo" and job.entrypoint[3:] == ["dpo", "tokenmill-job.yaml", "--nproc", "2"]
    with pytest.raises(ConfigError, match=r"data\.train: outside"):
        prepare(posttrain_config(task, tmp_path, "dpo"), "dpo.yaml", path_check=lambda p: "outside")
    plan = describe_training(job.config, 2)
    assert plan[0].startswith(f"dpo: {task['pairs']}") and "on 2 ranks" in plan[-2]
