"""The training commands: `train` (pre-training, on one process, torchrun or Ray Train),
`sft`, `reward`, `dpo` and `grpo` (post-training, launched the same way), `export` a checkpoint for
Hugging Face, `generate` from one. They import the trainer, none of the curation stages."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from pipeline.cli.arguments import (
    add_output,
    add_overrides,
    make_folder,
    number_between,
    positive_int,
    utf8_text,
)
from pipeline.console import plain_console

POSTTRAIN_KINDS = {
    "sft": "supervised fine-tuning (full or LoRA), loss on the assistant's turns only",
    "reward": "train a Bradley-Terry reward model on preference pairs",
    "dpo": "direct preference optimisation (or IPO) against the starting model",
    "grpo": "group relative policy optimisation: sampled answers rewarded by a verifier",
}


def register(commands) -> None:
    train = commands.add_parser(
        "train",
        help="pre-train a model on token shards",
        description="Train on one or more runs' token shards (FSDP2 with --nproc > 1).",
    )
    train.add_argument("config", help="training config YAML (data, model, train, ...)")
    add_output(train, "run folder")
    add_overrides(train, "train.steps=100")
    add_launch_arguments(train)
    train.add_argument(
        "--sample",
        metavar="PROMPT",
        type=utf8_text,
        help="after training, print a sample for this prompt",
    )
    train.set_defaults(command=train_command)

    for kind, what in POSTTRAIN_KINDS.items():
        posttrain = commands.add_parser(
            kind,
            help=what,
            description=f"{what[0].upper()}{what[1:]}, from `init_from` (a tokenmill checkpoint "
            "or a Hugging Face Llama/Qwen3 folder), on JSONL or Parquet chat data "
            "(docs/posttraining.md).",
        )
        posttrain.add_argument("config", help=f"post-training config YAML (configs/{kind}-*.yaml)")
        add_output(posttrain, "run folder")
        add_overrides(posttrain, "train.lr=1e-5")
        add_launch_arguments(posttrain)
        posttrain.set_defaults(command=train_command, kind=kind)

    export = commands.add_parser(
        "export",
        help="export a checkpoint for Hugging Face",
        description="Write safetensors, config.json and the tokenizer (LlamaForCausalLM, "
        "or Qwen3ForCausalLM with QK-norm).",
    )
    export.add_argument("checkpoint", help="RUN/checkpoints/step-NNNNNNN")
    export.add_argument("--hf", required=True, metavar="DIR", help="output folder")
    export.add_argument(
        "--force", action="store_true", help="write into DIR even if it holds files already"
    )
    export.set_defaults(command=export_command)

    generate = commands.add_parser(
        "generate",
        help="sample text from a checkpoint",
        description="Sample continuations with a KV cache, the prompts in one batch (bf16 on a "
        "GPU where there is one).",
    )
    generate.add_argument("checkpoint", help="RUN/checkpoints/step-NNNNNNN")
    generate.add_argument(
        "--prompt",
        required=True,
        action="append",
        type=utf8_text,
        help="repeat for several, sampled together",
    )
    generate.add_argument(
        "--chat", action="store_true", help="the prompt is a user turn in the chat template"
    )
    generate.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=64,
        help="at most this many tokens after each prompt, fewer where one ends (<|eos|>) or "
        "the model's context does (default: %(default)s)",
    )
    generate.add_argument(
        "--temperature",
        type=number_between(0, math.inf),
        default=0.8,
        help="0 is greedy (default: %(default)s)",
    )
    generate.add_argument(
        "--top-p",
        type=number_between(0, 1),
        default=0.95,
        help="sample from the smallest set of tokens this likely (default: %(default)s)",
    )
    generate.add_argument(
        "--seed", type=int, default=0, help="the same seed samples the same text (default: 0)"
    )
    generate.set_defaults(command=generate_command)


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nproc", type=positive_int, default=1, help="processes (ranks); >1 uses torchrun"
    )
    parser.add_argument("--address", help="Ray address: run the ranks with Ray Train")
    parser.add_argument(
        "--resume",
        default="auto",
        help="auto (the latest checkpoint in the run folder that loads, if any), none, "
        "or a checkpoint folder",
    )
    parser.add_argument(
        "--reschedule",
        action="store_true",
        help="resume although the learning-rate schedule changed (train.steps, lr, ...): the "
        "new one applies from the checkpoint's step on",
    )


def train_command(args: argparse.Namespace) -> int:
    from pipeline.launch import launch, load_train_config, refuse_rescheduling
    from trainer.checkpoint import complete_checkpoints

    kind = getattr(args, "kind", None)
    config = load_train_config(args.config, args.overrides, args.output, args.nproc, kind)
    if not args.reschedule:
        refuse_rescheduling(config, args.resume)
    result = launch(config, args.nproc, args.address, args.resume)
    console = plain_console(stderr=True)
    for key, value in result.items():
        if key.startswith("val_loss"):
            console.print(f"{key}: {value:.4f}")
    checkpoints = complete_checkpoints(config.checkpoint_folder())
    if checkpoints:
        console.print(f"checkpoint: {checkpoints[-1]}", soft_wrap=True)
    if getattr(args, "sample", None) and checkpoints:
        from trainer.checkpoint import load_model
        from trainer.generate import generate, load_tokenizer

        model, tokenizer = load_model(checkpoints[-1]), load_tokenizer(checkpoints[-1])
        (text,) = generate(model, tokenizer, [args.sample])
        console.print(f"sample: {args.sample}{text}", highlight=False)
    return 0


def export_command(args: argparse.Namespace) -> int:
    from pipeline.output import forbidden_folder
    from pipeline.schema import ConfigError
    from trainer.export import export_hf

    if "://" in args.hf:  # pathlib would make s3://b/m a local folder named s3:
        raise ConfigError(f"--hf {args.hf}: an export is written to a local folder; copy it after")
    folder = Path(args.hf)
    if problem := forbidden_folder(folder):  # even with --force
        raise ConfigError(f"--hf {folder} {problem}; give the export a folder of its own")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--hf {folder}: a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not args.force:
        raise ConfigError(f"--hf {folder}: holds files already; --force writes over them")
    make_folder("--hf", folder)  # before the checkpoint loads
    out = export_hf(args.checkpoint, folder)
    plain_console(stderr=True).print(f"exported: {out}", soft_wrap=True)
    return 0


def generate_command(args: argparse.Namespace) -> int:
    from trainer.checkpoint import load_model
    from trainer.generate import for_generation, generate, load_tokenizer

    checkpoint = args.checkpoint
    texts = generate(
        for_generation(load_model(checkpoint)),
        load_tokenizer(checkpoint),
        args.prompt,
        args.max_new_tokens,
        args.temperature,
        args.top_p,
        args.seed,
        args.chat,
    )
    for prompt, text in zip(args.prompt, texts, strict=True):
        print(prompt + text)
    return 0
