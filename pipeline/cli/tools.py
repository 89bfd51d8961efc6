"""Tools: `tokenizer show` (how a text splits) and `eval-extraction` (score extraction
engines against a truth file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.arguments import utf8_text
from pipeline.console import plain_console
from pipeline.engines import ENGINES
from pipeline.schema import ConfigError

DEFAULT_CONFIG = "configs/quickstart.yaml"


def register(commands) -> None:
    tokenizer = commands.add_parser(
        "tokenizer", help="inspect a tokenizer", description="Inspect a run's tokenizer."
    )
    tokenizer_commands = tokenizer.add_subparsers(required=True, metavar="COMMAND")
    show = tokenizer_commands.add_parser(
        "show", help="print how a text splits", description="Print how a text splits into tokens."
    )
    show.add_argument("text", type=utf8_text, help="the text to encode")
    show.add_argument(
        "--tokenizer",
        help="a tokenizer.json, a run's output folder or a checkpoint (default: the --config "
        "run's)",
    )
    show.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help="job config whose run's tokenizer to use (default: %(default)s)",
    )
    show.set_defaults(command=tokenizer_show_command)

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
    evaluation.set_defaults(command=eval_extraction_command)


def tokenizer_show_command(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.output import RunOutput
    from tokenizer.bpe import load_tokenizer
    from tokenizer.show import show_tokens

    path = args.tokenizer and _tokenizer_file(args.tokenizer)
    if path is None:
        if not Path(args.config).is_file() and args.config == DEFAULT_CONFIG:
            raise ConfigError(
                f"give --tokenizer (a tokenizer.json or a run's output folder) or --config: "
                f"the default, {DEFAULT_CONFIG}, is not in this folder"
            )
        output = RunOutput(load_config(args.config).output)
        path = output.path("tokenizer", "tokenizer.json")
        if not output.exists("tokenizer", "tokenizer.json"):
            raise ConfigError(f"{path}: no tokenizer yet; run `tokenmill run {args.config}` first")
    try:
        tokenizer = load_tokenizer(path)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    show_tokens(tokenizer, args.text, plain_console())
    return 0


def _tokenizer_file(path: str) -> str:
    """`path`, or the tokenizer.json inside it: a run's (OUT/tokenizer/) or a checkpoint's."""
    folder = Path(path)
    if not folder.is_dir():
        return path
    for inside in (folder / "tokenizer" / "tokenizer.json", folder / "tokenizer.json"):
        if inside.is_file():
            return str(inside)
    raise ConfigError(f"--tokenizer {path}: no tokenizer.json in it or in its tokenizer/ folder")


def eval_extraction_command(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from pipeline.extraction_eval import REFERENCE, REFERENCE_SETTINGS, evaluate, load_truth

    truth = load_truth(args.truth)
    engines = args.engines or list(ENGINES)
    console = plain_console()
    with Progress(console=plain_console(stderr=True), transient=True) as progress:
        task = progress.add_task("extracting", total=len(truth))
        scores, missing = evaluate(
            args.warc, truth, engines, progress=lambda: progress.advance(task)
        )
    if missing == len(truth):
        if not Path(args.warc).exists():
            raise ConfigError(f"{args.warc}: not found")
        raise ConfigError(
            f"{args.warc}: none of the {len(truth):,} pages {args.truth} knows is in it (they are "
            "looked up by URL: is it the WARC the truth file was made from?)"
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
        console.print(f"{missing} truth URLs have no page in {args.warc}", style="yellow")
    return 0
