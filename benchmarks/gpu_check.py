"""One command for a fresh GPU machine: is the trainer right and fast there?

Installs nothing and reaches no network: it needs only what `python -m trainer.train` needs
(torch, numpy, pyarrow, pyyaml, safetensors, tokenizers). Five checks, each a PASS/FAIL line:

  1. tokens:  a token run (BPE, shards, manifest: DESIGN.md's contract) from local text files,
  2. eager:   the 350M model in bf16 at seq 2048, tokens/s and MFU,
  3. compile: the same with `parallel.compile`, tokens/s and MFU,
  4. resume:  a run saved, resumed and compared with an uninterrupted one (train.deterministic):
              the same losses, bit for bit,
  5. fsdp+ac: FSDP2 over every GPU (torchrun) with activation checkpointing, compiled.

MFU is against 989 TFLOP/s (H100/H200 dense bf16) and against the matmul peak measured here.
Each training check runs `python -m trainer.train` in a subprocess under a time limit.

    benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
    python -m benchmarks.gpu_check --cpu   # the same five checks, tiny model, on a CPU (~1 min)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPECIAL = ["<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
PEAK_BF16 = 989e12


def texts_from(files: list[Path]) -> list[str]:
    """Documents: a JSON Lines file's `text` fields, or a text file's paragraphs."""
    texts = []
    for file in files:
        if file.suffix == ".jsonl":
            texts += [
                json.loads(line)["text"] for line in file.open(encoding="utf-8") if line.strip()
            ]
        else:
            texts += [p for p in file.read_text(errors="replace").split("\n\n") if p.strip()]
    return texts


def build_token_run(out: Path, texts: list[str], vocab_size: int) -> Path:
    """OUT/tokenizer/tokenizer.json and OUT/tokens/{train-*,val/*}.parquet + manifest.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL)
    tokenizer.train_from_iterator(texts, trainer)
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer" / "tokenizer.json"))
    (out / "tokens" / "val").mkdir(parents=True, exist_ok=True)
    encoded = [[1, *e.ids, 2] for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    held = max(1, len(encoded) // 20)
    splits = {"val/00000.parquet": encoded[:held]}
    rest = encoded[held:]
    for index in range(2):
        splits[f"train-{index:05d}.parquet"] = rest[index::2]
    shards = []
    for name, docs in splits.items():
        table = pa.table(
            {
                "id": [f"doc-{name}-{i}" for i in range(len(docs))],
                "copy": [0] * len(docs),
                "source": ["text"] * len(docs),
                "input_ids": pa.array(docs, pa.list_(pa.int32())),
                "num_tokens": [len(d) for d in docs],
            }
        )
        path = out / "tokens" / name
        pq.write_table(table, path, compression="zstd")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        shards.append({"path": f"tokens/{name}", "sha256": digest})
    (out / "tokens" / "manifest.json").write_text(
        json.dumps({"shards": shards}, indent=2), encoding="utf-8"
    )
    return out


def matmul_peak(device: str) -> float:
    """Dense bf16 matmul FLOP/s measured on this device (8192² on a GPU)."""
    import torch

    n, dtype = (8192, torch.bfloat16) if device == "cuda" else (1024, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    iterations, start = 20, time.perf_counter()
    for _ in range(iterations):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * iterations / (time.perf_counter() - start)


def run_config(folder: Path, data: dict, limit: float, nproc: int = 1, resume: str = "none"):
    """Train `data` with `python -m trainer.train` (torchrun for nproc > 1); (ok, message, rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    module = ["-m", "trainer.train", str(config), "--resume", resume]
    if nproc > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc-per-node={nproc}", *module]
    else:
        command = [sys.executable, *module]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=limit, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"over its {limit:.0f} s limit", []
    seconds = time.monotonic() - started
    metrics = Path(data["output"]) / "metrics.jsonl"
    rows = (
        [json.loads(line) for line in metrics.open(encoding="utf-8")] if metrics.is_file() else []
    )
    if done.returncode:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return False, f"exit {done.returncode} after {seconds:.0f} s: {tail}", rows
    return True, f"{seconds:.0f} s", rows


def throughput(rows: list[dict], peak: float, measured: float) -> str:
    timed = [row for row in rows if "tokens_per_s" in row][1:]  # the first window warms up
    if not timed:
        return "no timed steps"
    tokens = statistics.median(row["tokens_per_s"] for row in timed)
    mfu = statistics.median(row["mfu"] for row in timed)  # against train.peak_flops
    return (
        f"{tokens:,.0f} tokens/s, MFU {100 * mfu:.1f} % of {peak / 1e12:.0f} TFLOP/s, "
        f"{100 * mfu * peak / measured:.1f} % of the measured matmul peak"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny model on the CPU (a dry run)")
    parser.add_argument("--text", nargs="+", type=Path, help="text or JSON Lines files")
    parser.add_argument("--steps", type=int, default=20, help="steps per speed check")
    parser.add_argument("--limit", type=float, default=90, help="seconds per training check")
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    options = parser.parse_args()

    import torch

    device = "cpu" if options.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("FAIL setup: no CUDA device (use --cpu for a dry run)")
        return 1
    gpus = torch.cuda.device_count() if device == "cuda" else 1
    texts = texts_from(
        options.text or [ROOT / "data" / "sample" / "wiki.jsonl", *ROOT.glob("*.md")]
    )
    if options.cpu:
        preset, seq_len, batch, micro, dtype, peak = "tiny", 128, 16, 8, "float32", PEAK_BF16
    else:
        # configs/train-350m.yaml's micro-batch: at 4 sequences the GPU waits on launches
        preset, seq_len, batch, micro, dtype, peak = "350m", 2048, 16, 8, "bfloat16", PEAK_BF16
    measured = matmul_peak(device)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(
        f"device: {name} ×{gpus}, torch {torch.__version__}; measured matmul peak "
        f"{measured / 1e12:.3g} TFLOP/s",
        flush=True,
    )

    scratch = options.keep or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    failures = 0

    def report(check: str, ok: bool, message: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} {check}: {message}", flush=True)

    started = time.monotonic()
    run = build_token_run(scratch / "tokens", texts, vocab_size=8192 if not options.cpu else 2048)
    manifest = json.loads((run / "tokens" / "manifest.json").read_text(encoding="utf-8"))
    report(
        "tokens",
        True,
        f"{len(texts)} documents, {len(manifest['shards'])} shards, "
        f"{time.monotonic() - started:.0f} s",
    )

    def config(output: str, steps: int, **parallel) -> dict:
        return {
            "output": str(scratch / output),
            "data": {"runs": [{"path": str(run)}], "seq_len": seq_len, "val_tokens": seq_len},
            "model": {"preset": preset},
            "train": {
                "steps": steps,
                "global_batch_tokens": batch * seq_len,
                "micro_batch_size": micro,
                "log_every": 2,
                "warmup_steps": 2,
                "lr": 3e-4,
                "peak_flops": peak,
            },
            "parallel": {
                "param_dtype": dtype,
                "device": device,
                **({"cpu_threads": 1} if options.cpu else {}),
                **parallel,
            },
            "checkpoint": {"enabled": False},
        }

    for check, parallel in [("eager", {}), ("compile", {"compile": True})]:
        ok, message, rows = run_config(
            scratch / check, config(check, options.steps, **parallel), options.limit
        )
        report(check, ok, f"{throughput(rows, peak, measured)}; {message}" if ok else message)

    # resume: 6 steps saved at 3, resumed from 3 to 6; deterministic kernels, the same losses
    straight = config("straight", 6)
    straight["train"]["deterministic"] = True
    straight["checkpoint"] = {"every": 3, "keep": 2}
    resumed = {**straight, "output": str(scratch / "resumed")}
    ok, message, first = run_config(scratch / "straight", straight, options.limit)
    if ok:
        checkpoint = scratch / "straight" / "checkpoints" / "step-0000003"
        ok, message, second = run_config(
            scratch / "resumed", resumed, options.limit, resume=str(checkpoint)
        )
        losses = {r["step"]: r["loss"] for r in first if "loss" in r}
        again = {r["step"]: r["loss"] for r in second if "loss" in r}
        same = bool(again) and all(losses.get(step) == loss for step, loss in again.items())
        ok = ok and same
        message = (
            f"steps {sorted(again)} after a resume at step 3 equal the uninterrupted run's"
            if ok
            else f"losses differ: {losses} vs {again}; {message}"
        )
    report("resume", ok, message)

    fsdp = config("fsdp", options.steps, compile=True, activation_checkpointing=True)
    per_rank = micro * max(1, batch // (micro * gpus))  # the global batch splits over the ranks
    fsdp["train"]["global_batch_tokens"] = per_rank * gpus * seq_len
    ok, message, rows = run_config(scratch / "fsdp", fsdp, options.limit, nproc=gpus)
    detail = f"{gpus} rank(s), {throughput(rows, peak, measured)}; {message}"
    report("fsdp+ac", ok, detail if ok else message)
    print(
        f"{'PASS' if not failures else 'FAIL'}: {5 - failures}/5 checks in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
