"""`ablate`: variants of a pipeline config, each trained into the same small model and
scored on the same held-out text."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.cli.arguments import (
    add_log_format,
    add_output,
    add_overrides,
    log_console,
    positive_int,
)
from pipeline.console import labelled

WIDTH_OFF_A_TERMINAL = 140
"""The comparison's width in a log or a pipe, where rich would wrap it at 80 columns."""


def register(commands) -> None:
    ablate = commands.add_parser(
        "ablate",
        help="compare variants of a pipeline config by the models they train",
        description="Run each variant of a pipeline config (one tokenizer for all), train the "
        "same model on each for the same steps (once per seed), score every final checkpoint "
        "on the held-out text in bits per byte, and compare with the first variant. A rerun "
        "does only what is left. configs/ablate-quickstart.yaml is an example.",
    )
    ablate.add_argument("config", help="ablation config YAML (pipeline, training, variants, eval)")
    add_output(ablate, "ablation folder")
    ablate.add_argument(
        "--address",
        help="Ray address: the pipeline runs, the trainings (several at once) and the scoring "
        "run there",
    )
    ablate.add_argument(
        "--nproc", type=positive_int, default=1, help="training processes (ranks) per run"
    )
    add_overrides(ablate, "seeds=[0,1,2] or 'training_set={train.steps: 20}'")
    ablate.add_argument("--fresh", action="store_true", help="start every run over")
    ablate.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_log_format(ablate)
    ablate.set_defaults(command=ablate_command)


def ablate_command(args: argparse.Namespace) -> int:
    from pipeline.ablation.config import COMPARISON, load_ablation
    from pipeline.ablation.run import VariantFailed, run_ablation

    ablation = load_ablation(args.config, args.overrides, args.output, args.nproc)
    console = log_console(args)
    try:
        with stdout_to_stderr() if args.json else contextlib.nullcontext():
            comparison = run_ablation(ablation, args.address, args.nproc, args.fresh, console)
    except VariantFailed as err:
        console.print(labelled("error", str(err)), highlight=False, soft_wrap=True)
        return 1
    if args.json:
        print(json.dumps(comparison, indent=2))
    else:
        print_comparison(comparison, comparison_console())
    console.print(f"comparison: {Path(ablation.output, *COMPARISON)}", soft_wrap=True)
    return 0


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """What the runs print goes to stderr, so that stdout holds the JSON alone: the trainer's
    lines, Ray's forwarded worker output and torchrun's ranks' (file descriptor 1 itself)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def comparison_console() -> Console:
    """stdout, as wide as the comparison needs in a log or a pipe."""
    return Console(
        markup=False,
        emoji=False,
        width=WIDTH_OFF_A_TERMINAL if not sys.stdout.isatty() else None,
    )


def print_comparison(comparison: dict, console: Console) -> None:
    for source in comparison["held_out"]:
        unread = sum(source["unread"].values())
        console.print(
            f"held out: {source['source']}, {source['documents']:,} documents, "
            f"{source['bytes']:,} bytes, {source['tokens']:,} tokens"
            + (f" ({unread:,} records unread: {source['unread']})" if unread else ""),
            highlight=False,
        )
    for variant in comparison["variants"]:
        console.print(f"{variant['name']}: {variant['changes']}", highlight=False)
    several = len(comparison["seeds"]) > 1
    table = Table(
        title=f"{comparison['name']}: held-out bits per byte, lower is better "
        f"(seeds {', '.join(map(str, comparison['seeds']))})"
    )
    table.add_column("variant", no_wrap=True)
    sources = [source["source"] for source in comparison["held_out"]]
    by_source = sources if len(sources) > 1 else []
    held_out_documents = sum(source["documents"] for source in comparison["held_out"])
    columns = ("documents", "unique tokens", "epochs", "held out seen", "bits/byte")
    for column in (*columns, *by_source, "Δ"):
        table.add_column(column, justify="right")
    if several:
        table.add_column("seeds' spread", justify="right")
        table.add_column("verdict", no_wrap=True)
    for variant in comparison["variants"]:
        base = variant["verdict"] == "baseline"
        row = [
            variant["name"],
            f"{variant['documents']:,}",
            f"{variant['unique_tokens']:,}",
            f"{variant['epochs']:.2f}",
            f"{variant['contamination']['held_out_documents']}/{held_out_documents}",
            f"{variant['bits_per_byte']:.4f}",
            *(f"{variant['bits_per_byte_by_source'][source]:.4f}" for source in by_source),
            "baseline" if base else f"{variant['delta']:+.4f}",
        ]
        if several:
            row += [f"{variant['spread']:.4f}", "" if base else variant["verdict"]]
        table.add_row(*row)
    console.print(table)
    print_curves(comparison, console)
    if seen := contaminated(comparison):
        console.print(labelled("warning", seen, "yellow"), highlight=False, soft_wrap=True)


def print_curves(comparison: dict, console: Console) -> None:
    """Bits per byte at each checkpoint the trainings kept, where they kept more than one:
    whether the variants' order holds along the way."""
    steps = list(comparison["variants"][0]["bits_per_byte_by_step"])
    if len(steps) < 2:
        return
    table = Table(title="bits/byte by step (seeds' mean)")
    table.add_column("variant", no_wrap=True)
    for step in steps:
        table.add_column(f"step {step}", justify="right")
    for variant in comparison["variants"]:
        by_step = variant["bits_per_byte_by_step"]
        table.add_row(variant["name"], *(f"{by_step[step]:.4f}" for step in steps))
    console.print(table)


def contaminated(comparison: dict) -> str | None:
    """The variants that trained on held-out text, and what that does to their scores."""
    sources = {source["source"]: source["documents"] for source in comparison["held_out"]}
    seen = []
    for variant in comparison["variants"]:
        found = variant["contamination"]
        if found["held_out_documents"]:
            where = f"{variant['name']} {found['held_out_documents']} of {sum(sources.values())}"
            if len(sources) > 1:
                by_source = found["held_out_documents_by_source"].items()
                parts = [f"{name} {count} of {sources[name]}" for name, count in by_source if count]
                where += f" ({', '.join(parts)})"
            seen.append(where)
    if not seen:
        return None
    return (
        f"held-out documents share {comparison['contamination_ngram']}-word sequences with "
        f"training documents: {'; '.join(seen)}. A model scores what it memorised, so a "
        "variant that keeps more of them looks better than it is. Keep the held-out text out "
        "of the pipeline's inputs, or remove it with a `decontaminate` stage that has it as "
        "a reference"
    )
