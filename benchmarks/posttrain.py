"""Post-training throughput: our SFT and DPO steps/s vs TRL's SFTTrainer and DPOTrainer, our
GRPO completions/s vs TRL's GRPOTrainer.

One process, the same tiny Llama (one Hugging Face folder both start from), tokenizer, data
and batch for each pair of contenders:
  - SFT: GSM8K conversations (question → answer), packed into rows of `--seq-len`, the loss on
    the answers only; ours `tokenmill sft` (`trainer.posttrain.train`), TRL `SFTTrainer` with
    `packing=True` and its completion-only loss;
  - DPO: HH-RLHF pairs, β 0.1, reference log-probs computed once before training in both
    (TRL's `precompute_ref_log_probs=True`); ours `tokenmill dpo`, TRL `DPOTrainer`;
  - GRPO: GSM8K questions, `--group` completions each of up to `--new-tokens` tokens sampled at
    temperature 1 (stopping at `<|eos|>` or `<|end|>`), the GSM8K verifier, β 0.04 against a
    reference model, token-level loss (TRL's `dapo`), one update per batch; ours `tokenmill
    grpo` (batched generation with a KV cache), TRL `GRPOTrainer` with transformers'
    `generate`. Completions/s, and the share of the step spent sampling (ours: the logged
    `generation_s`; TRL's: the time in its `_generate`).
Steps/s counts steady steps only: ours from the metrics' windows after the first, TRL's from a
callback's clock after the same number of warm-up steps. Rounds interleave the contenders,
reversing the order every round, so machine load affects all alike. Without the shared
corpora the parity task of the tests stands in.

    python -m benchmarks.posttrain [--steps 20] [--rounds 2] [--preset tiny] [--threads 1]
        [--objectives sft,dpo,grpo]

Needs TRL (the dev extra).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from tokenizers import Tokenizer

from trainer.chat import CHAT_TEMPLATE, END_ID, EOS_ID
from trainer.chat_data import conversation, preference, prompts_within, read_records
from trainer.config import validate_train_config
from trainer.export import SPECIAL_TOKENS, hf_config, with_bos
from trainer.model_args import preset
from trainer.posttrain import train
from trainer.verifiers import gsm8k

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "posttrain"
WARMUP = 5


def records(count: int) -> tuple[list[dict], list[dict]]:
    """SFT records (messages) and preference records (prompt messages, chosen, rejected)."""
    if (CORPORA / "gsm8k-train.jsonl").is_file():
        sft = read_records(str(CORPORA / "gsm8k-train.jsonl"))[:count]
        sft = [{"messages": conversation(r, "question", "answer")} for r in sft]
        with gzip.open(
            CORPORA / "hh-rlhf-harmless-test.jsonl.gz", "rt", encoding="utf-8"
        ) as handle:
            pairs = [json.loads(line) for _, line in zip(range(count), handle, strict=False)]
    else:
        from support.chat_tasks import preference_records, sft_records

        sft = [
            {"messages": conversation(r, "prompt", "response")} for r in sft_records(range(count))
        ]
        pairs = preference_records(list(range(count)))
    prefs = []
    for record in pairs:
        prompt, chosen, rejected = preference(record)
        prefs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return sft, prefs


def model_folder(folder: Path, texts: list[str], preset_name: str, seq_len: int) -> Path:
    """A fresh tiny Llama as a Hugging Face folder, with our tokenizer (trained on `texts`)
    and chat template: the start of every contender."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tokenizer.bpe import train_bpe

    tokenizer = train_bpe(texts, 2048)
    args = preset(preset_name, vocab_size=tokenizer.get_vocab_size(), max_seq_len=2 * seq_len)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**hf_config(args))).save_pretrained(folder)
    (folder / "tokenizer.json").write_text(with_bos(tokenizer.to_str()), encoding="utf-8")
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": args.max_seq_len,
        "chat_template": CHAT_TEMPLATE,
        **SPECIAL_TOKENS,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    return folder


def ours(kind: str, data: Path, start: Path, output: Path, options) -> tuple[float, float]:
    """Steps/s (SFT, DPO) or completions/s (GRPO), and GRPO's share of time in sampling."""
    rows = {"sft": options.rows, "dpo": options.pairs, "grpo": completions(options)}[kind]
    config = {
        "kind": kind,
        "output": str(output),
        "init_from": str(start),
        "data": {"train": str(data), "val_examples": 0, "seq_len": options.seq_len},
        "train": {
            "steps": options.steps,
            "global_batch_tokens": rows * options.seq_len,
            "micro_batch_size": rows,
            "lr": 1e-5,
            "log_every": WARMUP,
        },
        "parallel": {"param_dtype": "float32", "cpu_threads": options.threads},
        "checkpoint": {"enabled": False},
    }
    if kind == "grpo":
        config["data"] |= {"prompt_key": "question"}
        config["train"]["log_every"] = 1
        config["grpo"] = {
            "group_size": options.group,
            "max_new_tokens": options.new_tokens,
            "beta": 0.04,
        }
    train(validate_train_config(config), resume="none")
    windows = [
        json.loads(line)
        for line in (output / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    per_step = config["train"]["global_batch_tokens"]
    steady = windows[1:] if kind != "grpo" else windows[WARMUP:]
    steps_per_s = statistics.mean(row["tokens_per_s"] / per_step for row in steady)
    if kind != "grpo":
        return steps_per_s, 0.0
    sampling = sum(row["generation_s"] for row in steady)
    share = sampling / sum(row["generation_s"] + row["update_s"] for row in steady)
    return steps_per_s * rows, share


def completions(options) -> int:
    return options.prompts * options.group


class StepClock:
    """A TRL callback: the time of each step's end, to count the steady steps only."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def __init__(self) -> None:
                self.ends: list[float] = []

            def on_step_end(self, args, state, control, **kwargs):
                self.ends.append(time.perf_counter())

        return Clock()


def trl_common(output: Path, batch: int, options) -> dict:
    return {
        "output_dir": str(output),
        "max_steps": options.steps,
        "per_device_train_batch_size": batch,
        "learning_rate": 1e-5,
        "lr_scheduler_type": "cosine",
        "logging_steps": 10_000,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        # TRL's defaults are bf16 autocast and activation checkpointing: off, as ours are here
        "bf16": False,
        "gradient_checkpointing": False,
        "dataloader_num_workers": 0,
        "max_length": options.seq_len,
        "seed": 0,
    }


def theirs(kind: str, data: list[dict], start: Path, output: Path, options) -> tuple[float, float]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(start)
    model = AutoModelForCausalLM.from_pretrained(start, attn_implementation="sdpa")
    clock = StepClock()
    if kind == "grpo":
        return trl_grpo(model, tokenizer, data, output, clock, options)
    if kind == "sft":
        split = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in data]
        config = SFTConfig(**trl_common(output, options.rows, options), packing=True)
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(split),
            processing_class=tokenizer,
            callbacks=[clock],
        )
    else:
        pairs = [
            {
                "prompt": r["prompt"],
                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "assistant", "content": r["rejected"]}],
            }
            for r in data
        ]
        config = DPOConfig(
            **trl_common(output, options.pairs, options), beta=0.1, precompute_ref_log_probs=True
        )
        trainer = DPOTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(pairs),
            processing_class=tokenizer,
            callbacks=[clock],
        )
    trainer.train()
    steady = clock.ends[WARMUP - 1 :]
    return (len(steady) - 1) / (steady[-1] - steady[0]), 0.0


def trl_grpo(model, tokenizer, data: list[dict], output: Path, clock, options):
    """TRL's GRPOTrainer, its `_generate` timed: completions/s and the share of sampling."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    sampling: list[tuple[float, float]] = []

    class TimedGRPOTrainer(GRPOTrainer):
        def _generate(self, prompts):
            began = time.perf_counter()
            try:
                return super()._generate(prompts)
            finally:
                sampling.append((began, time.perf_counter()))

    def reward(completions, answer, **_):
        return [
            gsm8k(c[0]["content"], {"answer": a}) for c, a in zip(completions, answer, strict=False)
        ]

    common = trl_common(output, completions(options), options)
    del common["max_length"]
    config = GRPOConfig(
        **common,
        num_generations=options.group,
        max_completion_length=options.new_tokens,
        temperature=1.0,
        top_p=1.0,
        beta=0.04,
        loss_type="dapo",
        generation_kwargs={"eos_token_id": [EOS_ID, END_ID]},
    )
    prompts = [
        {"prompt": [{"role": "user", "content": r["question"]}], "answer": r["answer"]}
        for r in data
    ]
    trainer = TimedGRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=config,
        train_dataset=Dataset.from_list(prompts),
        processing_class=tokenizer,
        callbacks=[clock],
    )
    trainer.train()
    steady = clock.ends[WARMUP - 1 :]
    elapsed = steady[-1] - steady[0]
    in_sampling = sum(end - began for began, end in sampling if began >= steady[0])
    return completions(options) * (len(steady) - 1) / elapsed, in_sampling / elapsed


def grpo_records(count: int, start: Path, options) -> list[dict]:
    """GSM8K questions (the parity questions without the corpora) whose prompt leaves room for
    `--new-tokens` in `--seq-len`: the same ones for both contenders."""
    if (CORPORA / "gsm8k-train.jsonl").is_file():
        found = read_records(str(CORPORA / "gsm8k-train.jsonl"))[:count]
    else:
        from support.chat_tasks import sft_records

        found = [{"question": r["prompt"], "answer": "#### 0"} for r in sft_records(range(count))]
    tokenizer = Tokenizer.from_file(str(start / "tokenizer.json"))
    limit = options.seq_len - options.new_tokens
    return prompts_within(found, tokenizer, "question", limit)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--rows", type=int, default=8, help="SFT: packed rows per step")
    parser.add_argument("--pairs", type=int, default=8, help="DPO: pairs per step")
    parser.add_argument("--prompts", type=int, default=8, help="GRPO: prompts per step")
    parser.add_argument("--group", type=int, default=8, help="GRPO: completions per prompt")
    parser.add_argument("--new-tokens", type=int, default=64, help="GRPO: longest completion")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--objectives", default="sft,dpo,grpo", help="which to compare")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    console = Console()
    kinds = options.objectives.split(",")
    sft, prefs = records(options.examples)
    texts = [m["content"] for r in sft for m in r["messages"]]
    texts += [r["chosen"] for r in prefs] + [m["content"] for r in prefs for m in r["prompt"]]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        start = model_folder(scratch / "start", texts, options.preset, options.seq_len)
        data = {"sft": sft, "dpo": prefs, "grpo": grpo_records(options.examples, start, options)}
        files = {kind: scratch / f"{kind}.jsonl" for kind in data}
        for kind, rows in data.items():
            files[kind].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        contenders = [(kind, who) for kind in kinds for who in ("ours", "TRL")]
        results: dict[tuple[str, str], list[tuple[float, float]]] = {k: [] for k in contenders}
        for round_ in range(options.rounds):
            for index, (kind, who) in enumerate(sorted(contenders, reverse=bool(round_ % 2))):
                output = scratch / f"round-{round_}-{index}"
                if who == "ours":
                    value = ours(kind, files[kind], start, output, options)
                else:
                    value = theirs(kind, data[kind], start, output, options)
                results[kind, who].append(value)
                unit = "completions/s" if kind == "grpo" else "steps/s"
                console.print(f"round {round_}: {kind} {who} {value[0]:.2f} {unit}")
    console.print(
        f"model {options.preset}, seq_len {options.seq_len}; SFT {options.rows} packed rows/step, "
        f"DPO {options.pairs} pairs/step, GRPO {options.prompts} prompts × {options.group} "
        f"completions of ≤ {options.new_tokens} tokens/step; {options.threads} thread(s), "
        f"{options.steps} steps ({WARMUP} warm-up)"
    )
    table = Table(title="post-training throughput (median of rounds)")
    for column in ("objective", "unit", "ours", "TRL", "ours / TRL", "sampling share"):
        table.add_column(column)
    for kind in kinds:
        mine, trl = (statistics.median(v[0] for v in results[kind, who]) for who in ("ours", "TRL"))
        goal = "2×" if kind == "grpo" else "1.5×"
        share = ""
        if kind == "grpo":
            share = " / ".join(
                f"{statistics.median(v[1] for v in results[kind, who]):.0%} {who}"
                for who in ("ours", "TRL")
            )
        unit = "completions/s" if kind == "grpo" else "steps/s"
        table.add_row(
            kind, unit, f"{mine:.2f}", f"{trl:.2f}", f"{mine / trl:.2f}× (goal ≥ {goal})", share
        )
    console.print(table)


if __name__ == "__main__":
    main()
