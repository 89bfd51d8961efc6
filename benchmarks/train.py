"""Training throughput: our trainer vs transformers' LlamaForCausalLM, and our loader alone.

One process, the same token run, model shape, batch and optimizer settings for all:
  - ours: `trainer.train.train` (loader, model, AdamW, clipping, logging, as users run it);
    tokens/s from its metrics, the first logged interval (warm-up, compilation) left out,
  - ours, compiled: the same with `parallel.compile: true` (each block through inductor),
  - reference: `LlamaForCausalLM` of the same architecture (sdpa attention) in a plain
    loop over the same batches: forward, cross-entropy, backward, clip, AdamW step,
  - loader: `Loader.next_batch` alone, no model.
Rounds interleave the contenders, reversing their order every round, so machine load
affects all alike.

    python -m benchmarks.train [--run OUT] [--preset tiny] [--steps 30] [--rounds 2]
    python -m benchmarks.train --device cuda --dtype bf16 --preset 350m --seq-len 2048

On a GPU both models compute in bf16 (ours: FSDP2's param dtype; transformers': autocast)
with fp32 weights and AdamW, and the table adds MFU against 989 TFLOP/s (dense bf16, H100 and
H200) and against the matmul peak measured on the device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from trainer.config import TrainConfig, validate_train_config
from trainer.data import Loader, train_shards
from trainer.model import flops_per_token, parameter_count
from trainer.model_args import ModelArgs
from trainer.train import tokenizer_path, train

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def sample_token_run(folder: Path) -> Path:
    """WikiText-2 (valid) as a token run when no pipeline output is given: ~0.5M tokens."""
    from filters.wikitext import articles
    from support.token_runs import write_token_run

    texts = [
        "\n".join(paragraphs) for paragraphs in articles(CORPORA / "text" / "wikitext-2-valid.txt")
    ]
    return write_token_run(folder, {"wiki": texts[4:]}, {"wiki": texts[:4]}, vocab_size=2048)


DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def make_config(
    run: Path,
    output: Path,
    preset: str,
    steps: int,
    seq_len: int,
    device: str = "cpu",
    dtype: str = "fp32",
    micro_batch_size: int = 8,
) -> TrainConfig:
    return validate_train_config(
        {
            "output": str(output),
            "data": {"runs": [{"path": str(run)}], "seq_len": seq_len, "val_tokens": seq_len},
            "model": {"preset": preset},
            "train": {
                "steps": steps,
                "global_batch_tokens": 16 * seq_len,
                "micro_batch_size": micro_batch_size,
            },
            "parallel": {"param_dtype": DTYPES[dtype], "device": device},
            "checkpoint": {"enabled": False},
        }
    )


def ours(config: TrainConfig) -> float:
    train(config, resume="none")
    rows = [
        json.loads(line) for line in (Path(config.output) / "metrics.jsonl").open(encoding="utf-8")
    ]
    return statistics.mean(row["tokens_per_s"] for row in rows[1:] if "tokens_per_s" in row)


def reference(config: TrainConfig, args: ModelArgs) -> float:
    from transformers import LlamaConfig, LlamaForCausalLM

    hf_config = LlamaConfig(
        vocab_size=args.vocab_size,
        hidden_size=args.dim,
        intermediate_size=args.ffn_dim,
        num_hidden_layers=args.n_layers,
        num_attention_heads=args.n_heads,
        num_key_value_heads=args.n_kv_heads,
        max_position_embeddings=args.max_seq_len,
        rms_norm_eps=args.norm_eps,
        rope_theta=args.rope_base,
        tie_word_embeddings=args.tied_embeddings,
        attn_implementation="sdpa",
    )
    device = torch.device(config.parallel.device)
    model = LlamaForCausalLM(hf_config).to(device).train()
    section = config.train
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=section.lr,
        betas=section.betas,
        weight_decay=section.weight_decay,
        fused=device.type == "cuda",
    )
    bf16 = config.parallel.param_dtype == "bfloat16"
    loader = _loader(config)
    accumulation = config.accumulation_steps(1)
    warmup = config.train.log_every
    for step in range(config.train.steps):
        if step == warmup:
            _synchronize(device)
            started = time.perf_counter()
        batch = loader.next_batch()
        for micro in range(accumulation):
            inputs = batch.inputs[micro].to(device, non_blocking=True)
            targets = batch.targets[micro].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(input_ids=inputs).logits
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
            (loss / accumulation).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), section.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _synchronize(device)
    steps = config.train.steps - warmup
    tokens_per_s = steps * config.train.global_batch_tokens / (time.perf_counter() - started)
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return tokens_per_s


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: str) -> float:
    """Dense bf16 matmul FLOP/s measured on the device (8192² operands)."""
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    _synchronize(torch.device(device))
    started = time.perf_counter()
    for _ in range(20):
        a @ b
    _synchronize(torch.device(device))
    return 2 * 8192**3 * 20 / (time.perf_counter() - started)


def _loader(config: TrainConfig) -> Loader:
    shards = train_shards(Path(config.data.runs[0].path))
    return Loader(
        [(shards, 1.0)],
        config.data.seq_len,
        config.sequences_per_step(),
        config.train.micro_batch_size,
    )


def loader_alone(config: TrainConfig, seconds: float = 3.0) -> float:
    loader, tokens = _loader(config), 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        tokens += loader.next_batch().inputs.numel()
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, help="a pipeline run's output with tokens/ (default: WikiText-2 valid)"
    )
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--micro-batch-size", type=int, default=8)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    console = Console()
    with tempfile.TemporaryDirectory() as scratch:
        run = options.run or sample_token_run(Path(scratch) / "tokens")
        config = make_config(
            run,
            Path(scratch) / "ours",
            options.preset,
            options.steps,
            options.seq_len,
            options.device,
            options.dtype,
            options.micro_batch_size,
        )
        from tokenizers import Tokenizer

        vocab = Tokenizer.from_file(str(tokenizer_path(config))).get_vocab_size()
        args = config.model.args(vocab)
        console.print(
            f"model {options.preset}: {parameter_count(args)['total']:,} parameters, "
            f"{flops_per_token(args, options.seq_len):,.0f} FLOPs/token; seq_len {options.seq_len}, "
            f"{config.train.global_batch_tokens} tokens/step, {options.threads} thread(s)"
        )
        compiled = replace(config, parallel=replace(config.parallel, compile=True))
        contenders = {
            "ours": lambda output: ours(replace(config, output=output)),
            "ours, compiled": lambda output: ours(replace(compiled, output=output)),
            "transformers": lambda _: reference(config, args),
        }
        results: dict[str, list[float]] = {name: [] for name in [*contenders, "loader"]}
        for round_ in range(options.rounds):
            for index, name in enumerate(sorted(contenders, reverse=bool(round_ % 2))):
                output = str(Path(scratch) / f"round-{round_}-{index}")
                results[name].append(contenders[name](output))
            results["loader"].append(loader_alone(config))
    table = Table(title="training tokens/s (median of rounds)")
    for column in ("contender", "tokens/s", "vs transformers"):
        table.add_column(column)
    median = {name: statistics.median(values) for name, values in results.items()}
    for name in results:
        table.add_row(name, f"{median[name]:,.0f}", f"{median[name] / median['transformers']:.2f}×")
    console.print(table)
    if options.device == "cuda":
        flops, peak = flops_per_token(args, options.seq_len), matmul_peak("cuda")
        for name in ("ours", "ours, compiled", "transformers"):
            console.print(
                f"{name}: MFU {100 * flops * median[name] / 989e12:.1f} % of 989 TFLOP/s, "
                f"{100 * flops * median[name] / peak:.1f} % of the measured matmul peak "
                f"({peak / 1e12:.0f} TFLOP/s)"
            )
    console.print(
        f"ours / transformers: {median['ours'] / median['transformers']:.2f}× eager, "
        f"{median['ours, compiled'] / median['transformers']:.2f}× compiled (goal ≥ 1.2×); "
        f"loader / ours: {median['loader'] / median['ours']:.0f}× (goal ≥ 20×), "
        f"loader {median['loader'] / 1e6:.1f}M tokens/s (goal ≥ 1M)"
    )


if __name__ == "__main__":
    main()
