"""`tokenmill`: the one entry point. Each subcommand has --help."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pipeline.extract import ENGINES
from pipeline.schema import ConfigError
from trainer.errors import TrainingError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except ConfigError as err:
        Console(stderr=True).print(
            f"[red]config error[/red]: {err}", highlight=False, soft_wrap=True
        )
        return 2
    except OSError as err:  # the machine's doing (a full disk, a permission), not a bug's
        Console(stderr=True).print(f"[red]error[/red]: {err}", highlight=False, soft_wrap=True)
        return 1
    except TrainingError as err:  # bad token shards or checkpoints: the message names the file
        Console(stderr=True).print(
            f"[red]training error[/red]: {escape(str(err))}", highlight=False, soft_wrap=True
        )
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenmill",
        description="Curate web crawls into training data on Ray, and train on it.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run a pipeline job", description="Run a pipeline job config on Ray."
    )
    run.add_argument("config", help="job config YAML")
    run.add_argument("--output", help="output folder or URL (overrides `output:`)")
    run.add_argument("--address", help="Ray address to join (default: an embedded local Ray)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted key, stages by name: stages.extract.engine=trafilatura",
    )
    run.add_argument(
        "--fresh", action="store_true", help="discard an earlier run's output in the folder first"
    )
    run.set_defaults(command=_run)

    report = commands.add_parser(
        "report",
        help="show a run's report",
        description="Summarise a finished run's report (OUT/report/report.json), write it as "
        "a self-contained HTML page, or compare it with another run's.",
    )
    report.add_argument("output", help="the run's output folder")
    report.add_argument(
        "--json", action="store_true", help="print report.json (or the comparison) as JSON"
    )
    report.add_argument(
        "--html", metavar="FILE", help="write the report as one self-contained HTML page"
    )
    report.add_argument(
        "--compare", metavar="OUT_B", help="another run's output folder to compare with"
    )
    report.set_defaults(command=_report)
    _add_trainer_commands(commands)

    tokenizer = commands.add_parser(
        "tokenizer", help="inspect a tokenizer", description="Inspect a run's tokenizer."
    )
    tokenizer_commands = tokenizer.add_subparsers(required=True, metavar="COMMAND")
    show = tokenizer_commands.add_parser(
        "show", help="print how a text splits", description="Print how a text splits into tokens."
    )
    show.add_argument("text", help="the text to encode")
    show.add_argument(
        "--tokenizer", help="a tokenizer.json (default: OUT/tokenizer/ of the --config run)"
    )
    show.add_argument(
        "--config",
        default="configs/quickstart.yaml",
        help="job config whose run's tokenizer to use (default: %(default)s)",
    )
    show.set_defaults(command=_tokenizer_show)

    evaluation = commands.add_parser(
        "eval-extraction",
        help="score extraction engines against a truth file",
        description="Extract every page of WARC that TRUTH.json knows with each engine and "
        "score it. TRUTH.json is {url: reference_text} (precision/recall/F1 of lower-cased word "
        '4-gram shingles) or trafilatura\'s {url: {"with": [...], "without": [...]}} (share of '
        "`with` snippets found and `without` snippets avoided).",
    )
    evaluation.add_argument("warc", help="WARC file holding the pages")
    evaluation.add_argument("truth", help="truth JSON keyed by page URL")
    evaluation.add_argument(
        "--engine",
        dest="engines",
        action="append",
        choices=sorted(ENGINES),
        help="engine to score; repeat for several (default: all)",
    )
    evaluation.set_defaults(command=_eval_extraction)
    _lm_parser(commands)
    _classifier_parser(commands)
    return parser


def _add_trainer_commands(commands) -> None:
    train = commands.add_parser(
        "train",
        help="pre-train a model on token shards",
        description="Train on one or more runs' token shards (FSDP2 with --nproc > 1).",
    )
    train.add_argument("config", help="training config YAML (data, model, train, ...)")
    train.add_argument("--output", help="run folder (overrides `output:`)")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted key: train.steps=100",
    )
    train.add_argument("--nproc", type=int, default=1, help="processes (ranks); >1 uses torchrun")
    train.add_argument("--address", help="Ray address: run the ranks with Ray Train")
    train.add_argument(
        "--resume",
        default="auto",
        help="auto (the latest checkpoint in the run folder that loads, if any), none, "
        "or a checkpoint folder",
    )
    train.add_argument(
        "--sample", metavar="PROMPT", help="after training, print a sample for this prompt"
    )
    train.set_defaults(command=_train)

    export = commands.add_parser(
        "export",
        help="export a checkpoint for Hugging Face",
        description="Write safetensors, config.json and the tokenizer (LlamaForCausalLM, "
        "or Qwen3ForCausalLM with QK-norm).",
    )
    export.add_argument("checkpoint", help="RUN/checkpoints/step-NNNNNNN")
    export.add_argument("--hf", required=True, metavar="DIR", help="output folder")
    export.set_defaults(command=_export)

    generate = commands.add_parser(
        "generate",
        help="sample text from a checkpoint",
        description="Sample a continuation with a KV cache.",
    )
    generate.add_argument("checkpoint", help="RUN/checkpoints/step-NNNNNNN")
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--max-new-tokens", type=int, default=64)
    generate.add_argument("--temperature", type=float, default=0.8, help="0 is greedy")
    generate.add_argument("--top-p", type=float, default=0.95)
    generate.add_argument("--seed", type=int, default=0)
    generate.set_defaults(command=_generate)


def _lm_parser(commands) -> None:
    lm = commands.add_parser(
        "lm", help="train KenLM models", description="KenLM language models for `perplexity`."
    )
    actions = lm.add_subparsers(required=True, metavar="ACTION")
    train = actions.add_parser(
        "train",
        help="train a KenLM model with lmplz",
        description="Normalise the text as the perplexity stage does, run lmplz, then build_binary.",
    )
    train.add_argument("--input", nargs="+", required=True, metavar="TEXT", help=INPUT_HELP)
    train.add_argument("--wikitext", action="store_true", help="the .txt inputs are WikiText")
    train.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    train.add_argument("--output", required=True, help="binary model to write")
    train.add_argument("--memory", default="20%", help="lmplz -S (default 20%%)")
    train.add_argument(
        "--structure", choices=["probing", "trie"], default="probing", help="build_binary layout"
    )
    train.add_argument("--quantize-bits", type=int, help="trie only: quantise to this many bits")
    train.add_argument(
        "--prune", type=int, nargs="+", help="lmplz --prune: count thresholds per order, e.g. 0 0 1"
    )
    train.set_defaults(command=_lm_train)

    cutoffs = actions.add_parser(
        "cutoffs",
        help="per-language perplexity percentiles for head/middle/tail buckets",
        description="Score a sample of documents and write the 30th/60th percentiles per language.",
    )
    cutoffs.add_argument("--model", required=True, help="KenLM model")
    cutoffs.add_argument("--input", nargs="+", required=True, help=INPUT_HELP)
    cutoffs.add_argument("--sample", type=int, default=10_000, help="documents to score at most")
    cutoffs.add_argument("--output", required=True, help="cutoffs JSON to write")
    cutoffs.set_defaults(command=_lm_cutoffs)


def _classifier_parser(commands) -> None:
    from filters.quality_classifier import FastTextParams

    classifier = commands.add_parser(
        "classifier", help="train fastText quality classifiers", description="For `classifier`."
    )
    actions = classifier.add_subparsers(required=True, metavar="ACTION")
    train = actions.add_parser(
        "train",
        help="train a fastText quality classifier (DCLM defaults)",
        description="Positives (`hq`) against negatives (`cc`); reports held-out precision/recall.",
    )
    train.add_argument("--positive", nargs="+", required=True, help=INPUT_HELP)
    train.add_argument("--negative", nargs="+", required=True, help=INPUT_HELP)
    train.add_argument("--wikitext", action="store_true", help="the .txt inputs are WikiText")
    train.add_argument("--output", required=True, help="model to write (.bin, or .ftz quantised)")
    train.add_argument("--valid-fraction", type=float, default=0.1, help="held out (default 0.1)")
    train.add_argument("--quantize", action="store_true", help="compress the model (.ftz)")
    for name, field in FastTextParams.model_fields.items():
        train.add_argument(
            f"--{name}", type=field.annotation, default=field.default, help="fastText"
        )
    train.set_defaults(command=_classifier_train)


INPUT_HELP = ".txt (a line per example), .jsonl(.gz) or .parquet with `text`"


def _lm_train(args: argparse.Namespace) -> int:
    import pyarrow.compute as pc

    from filters.kenlm_model import train_kenlm
    from filters.training_text import read_examples

    texts = read_examples(args.input, wikitext=args.wikitext).column("text")
    paragraphs = pc.list_flatten(pc.split_pattern(pc.drop_null(texts), "\n")).to_pylist()
    console = Console(stderr=True)
    with console.status(f"lmplz: {len(paragraphs):,} paragraphs, order {args.order}"):
        model = train_kenlm(
            paragraphs,
            args.output,
            order=args.order,
            memory=args.memory,
            structure=args.structure,
            quantize_bits=args.quantize_bits,
            prune=args.prune,
        )
    console.print(f"model: {model} ({model.stat().st_size:,} bytes)")
    return 0


def _lm_cutoffs(args: argparse.Namespace) -> int:
    from filters.kenlm_model import document_perplexities
    from filters.perplexity import bucket_cutoffs
    from filters.training_text import read_examples

    table = read_examples(args.input)
    table = table.take(
        sorted(random.Random(0).sample(range(len(table)), min(args.sample, len(table))))
    )
    languages = (
        table.column("language").to_pylist()
        if "language" in table.column_names
        else [None] * len(table)
    )
    with Console(stderr=True).status(f"scoring {len(table):,} documents"):
        perplexity = document_perplexities(str(Path(args.model).resolve()), table.column("text"))
    cutoffs = bucket_cutoffs(perplexity.to_numpy(zero_copy_only=False), languages)
    Path(args.output).write_text(
        json.dumps({"percentiles": [30, 60], "cutoffs": cutoffs}, indent=2)
    )
    print(json.dumps(cutoffs))
    return 0


def _classifier_train(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from filters.quality_classifier import FastTextParams, train_classifier
    from filters.training_text import read_examples

    params = FastTextParams(**{name: getattr(args, name) for name in FastTextParams.model_fields})
    positives = read_examples(args.positive, wikitext=args.wikitext).column("text").to_pylist()
    negatives = read_examples(args.negative, wikitext=args.wikitext).column("text").to_pylist()
    with Console(stderr=True).status(f"fastText: {len(positives):,} hq, {len(negatives):,} cc"):
        evaluation = train_classifier(
            positives, negatives, args.output, params, args.valid_fraction, args.quantize
        )
    print(json.dumps({"model": args.output, "held_out": evaluation and asdict(evaluation)}))
    return 0


def _run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.plan import run_job
    from pipeline.report.terminal import print_funnel

    config = load_config(args.config, args.overrides, output=args.output)
    console = Console(stderr=True)
    summary = run_job(config, address=args.address, fresh=args.fresh, console=console)
    print_funnel(summary.report, console)
    shards = summary.output.list("documents", suffix=".parquet")
    console.print(
        f"output: {summary.output.path('documents')} ({len(shards)} shards)", soft_wrap=True
    )
    if tokens := summary.report.get("tokens"):
        console.print(
            f"tokens: {summary.output.path('tokens')} ({tokens['train']['shards']} shards, "
            f"{tokens['train']['tokens']:,} training and {tokens['val']['tokens']:,} validation tokens)",
            soft_wrap=True,
        )
    for name in ("report.json", "report.html"):
        console.print(f"report: {summary.output.path('report', name)}", soft_wrap=True)
    for shard, error in summary.failed.items():
        console.print(f"[red]shard {shard} failed; rerun to retry it[/red]\n{error}")
    for problem in summary.errored_stages.values():
        console.print(f"[red]error[/red]: {problem}", highlight=False, soft_wrap=True)
    failed = summary.failed or summary.errored_stages or summary.report["conservation_problems"]
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.output import RunOutput
    from pipeline.report.compare import compare_reports, print_comparison
    from pipeline.report.html import render_html
    from pipeline.report.terminal import print_summary
    from pipeline.state import damaged_shards

    report = _read_report(args.output)
    if args.html:
        Path(args.html).write_text(render_html(report), encoding="utf-8")
        Console(stderr=True).print(f"wrote {args.html}", soft_wrap=True)
    if args.compare:
        other = _read_report(args.compare)
        if args.json:
            print(json.dumps(compare_reports(report, other), indent=2))
        else:
            print_comparison(report, other, (args.output, args.compare), Console())
    elif args.json:
        print(json.dumps(report, indent=2))
    elif not args.html:
        print_summary(report, Console())
    damaged = damaged_shards(RunOutput(args.output))
    for path in damaged:
        Console(stderr=True).print(
            f"[red]error[/red]: {path} is missing or not what the run wrote", soft_wrap=True
        )
    return 1 if damaged else 0


def _read_report(folder: str) -> dict:
    from pipeline.output import RunOutput

    output = RunOutput(folder)
    if not output.exists("report", "report.json"):
        raise ConfigError(f"{folder}: no report/report.json (has the run finished?)")
    return output.read_json("report", "report.json")


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.launch import launch, load_train_config
    from trainer.checkpoint import complete_checkpoints

    config = load_train_config(args.config, args.overrides, output=args.output)
    result = launch(config, args.nproc, args.address, args.resume)
    console = Console(stderr=True)
    for key, value in result.items():
        if key.startswith("val_loss"):
            console.print(f"{key}: {value:.4f}")
    checkpoints = complete_checkpoints(Path(config.output))
    if checkpoints:
        console.print(f"checkpoint: {checkpoints[-1]}", soft_wrap=True)
    if args.sample and checkpoints:
        from trainer.checkpoint import load_model
        from trainer.generate import generate, load_tokenizer

        text = generate(load_model(checkpoints[-1]), load_tokenizer(checkpoints[-1]), args.sample)
        console.print(f"sample: {args.sample}{text}", highlight=False, markup=False)
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from trainer.export import export_hf

    out = export_hf(Path(args.checkpoint), Path(args.hf))
    Console(stderr=True).print(f"exported: {out}", soft_wrap=True)
    return 0


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from trainer.checkpoint import load_model
    from trainer.generate import generate, load_tokenizer

    checkpoint = Path(args.checkpoint)
    text = generate(
        load_model(checkpoint),
        load_tokenizer(checkpoint),
        args.prompt,
        args.max_new_tokens,
        args.temperature,
        args.top_p,
        args.seed,
    )
    print(args.prompt + text)


def _tokenizer_show(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.output import RunOutput
    from tokenizer.bpe import load_tokenizer
    from tokenizer.show import show_tokens

    path = args.tokenizer
    if path is None:
        output = RunOutput(load_config(args.config).output)
        path = output.path("tokenizer", "tokenizer.json")
        if not output.exists("tokenizer", "tokenizer.json"):
            raise ConfigError(f"{path}: no tokenizer yet; run `tokenmill run {args.config}` first")
    try:
        tokenizer = load_tokenizer(path)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    show_tokens(tokenizer, args.text, Console())
    return 0


def _eval_extraction(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from pipeline.extraction_eval import REFERENCE, REFERENCE_SETTINGS, evaluate, load_truth

    truth = load_truth(args.truth)
    engines = args.engines or list(ENGINES)
    console = Console()
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("extracting", total=len(truth))
        scores, missing = evaluate(
            args.warc, truth, engines, progress=lambda: progress.advance(task)
        )
    snippets = any(score.with_total or score.without_total for score in scores.values())
    texts = any(score.f1 for score in scores.values())
    table = Table(title=f"extraction quality on {args.warc}")
    for column in ("engine", "pages", "errors", "ms/page"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    if snippets:
        table.add_column("with found %", justify="right")
        table.add_column("without avoided %", justify="right")
    if texts:
        for column in ("precision %", "recall %", "F1 %"):
            table.add_column(column, justify="right")
    for engine, score in scores.items():
        row = [engine, str(score.pages), str(score.errors), f"{score.ms_per_page:.1f}"]
        if snippets:
            row += [f"{100 * score.with_share:.2f}", f"{100 * score.without_share:.2f}"]
        if texts:
            row += [
                f"{100 * sum(v) / max(len(v), 1):.2f}"
                for v in (score.precision, score.recall, score.f1)
            ]
        table.add_row(*row)
    console.print(table)
    console.print(f"reference engine {REFERENCE}: {REFERENCE_SETTINGS}", soft_wrap=True)
    if missing:
        console.print(f"[yellow]{missing} truth URLs have no page in {args.warc}[/yellow]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
