"""The model commands: KenLM models for `perplexity` (`lm train`, `lm cutoffs`) and fastText
quality classifiers for `classifier` (`classifier train`)."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from pipeline.cli.arguments import (
    file_to_write,
    make_folder,
    number_between,
    positive_int,
    whole_number_from,
)
from pipeline.console import plain_console
from pipeline.schema import ConfigError, format_validation_error

# What the kenlm sdist compiles (lmplz, build_binary and the Python module): KENLM_MAX_ORDER
# 6; build_binary takes bigrams at least, and quantises to 25 bits at most. Checked here
# because build_binary says so only after lmplz has counted the whole text.
ORDERS = range(2, 7)
QUANTIZE_BITS = range(1, 26)


def register(commands) -> None:
    _register_lm(commands)
    _register_classifier(commands)


def _register_lm(commands) -> None:
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
    train.add_argument(
        "--order",
        type=whole_number_from(ORDERS.start, ORDERS.stop - 1),
        default=5,
        help=f"n-gram order, {ORDERS.start} to {ORDERS.stop - 1} (default 5)",
    )
    train.add_argument("--output", type=file_to_write, required=True, help="binary model to write")
    train.add_argument("--memory", default="20%", help="lmplz -S (default 20%%)")
    train.add_argument(
        "--structure", choices=["probing", "trie"], default="probing", help="build_binary layout"
    )
    train.add_argument(
        "--quantize-bits",
        type=whole_number_from(QUANTIZE_BITS.start, QUANTIZE_BITS.stop - 1),
        help="trie only: quantise to this many bits (8 is usual)",
    )
    train.add_argument(
        "--prune",
        type=whole_number_from(0),
        nargs="+",
        help="lmplz --prune: count thresholds per order, not decreasing, e.g. 0 0 1",
    )
    train.set_defaults(command=lm_train_command)

    cutoffs = actions.add_parser(
        "cutoffs",
        help="per-language perplexity percentiles for head/middle/tail buckets",
        description="Score a sample of documents and write the 30th/60th percentiles per language.",
    )
    cutoffs.add_argument("--model", required=True, help="KenLM model")
    cutoffs.add_argument("--input", nargs="+", required=True, help=INPUT_HELP)
    cutoffs.add_argument(
        "--sample", type=positive_int, default=10_000, help="documents to score at most"
    )
    cutoffs.add_argument(
        "--output", type=file_to_write, required=True, help="cutoffs JSON to write"
    )
    cutoffs.set_defaults(command=lm_cutoffs_command)


def _register_classifier(commands) -> None:
    from filters.classifier_training import FastTextParams

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
    train.add_argument(
        "--output",
        type=file_to_write,
        required=True,
        help="model to write (.bin, or .ftz quantised)",
    )
    train.add_argument(
        "--valid-fraction",
        type=number_between(0.0, 0.5),
        default=0.1,
        help="held out to evaluate (default 0.1, at most 0.5)",
    )
    train.add_argument("--quantize", action="store_true", help="compress the model (.ftz)")
    for name, field in FastTextParams.model_fields.items():
        train.add_argument(
            f"--{name}", type=field.annotation, default=field.default, help="fastText"
        )
    train.set_defaults(command=classifier_train_command)


INPUT_HELP = ".txt (a line per example), .jsonl(.gz) or .parquet with `text`"


def lm_train_command(args: argparse.Namespace) -> int:
    from filters.kenlm_model import train_kenlm

    if args.quantize_bits and args.structure != "trie":
        raise ConfigError("--quantize-bits: needs --structure trie (probing is not quantised)")
    make_folder("--output", Path(args.output).parent)
    texts = _texts("--input", args.input, args.wikitext)
    paragraphs = [line for text in texts for line in text.split("\n")]
    console = plain_console(stderr=True)
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


def lm_cutoffs_command(args: argparse.Namespace) -> int:
    from filters.kenlm_model import document_perplexities, kenlm_file
    from filters.perplexity import bucket_cutoffs
    from filters.training_text import read_examples

    if not Path(args.model).is_file():
        raise ConfigError(f"--model {args.model}: no such file")
    make_folder("--output", Path(args.output).parent)
    try:
        kenlm_file(args.model)
    except ValueError as err:
        raise ConfigError(f"--model: {err}") from None
    table = read_examples(args.input)
    if len(table) == 0:
        raise ConfigError(f"--input {' '.join(args.input)}: no documents to score in it")
    table = table.take(
        sorted(random.Random(0).sample(range(len(table)), min(args.sample, len(table))))
    )
    languages = (
        table.column("language").to_pylist()
        if "language" in table.column_names
        else [None] * len(table)
    )
    with plain_console(stderr=True).status(f"scoring {len(table):,} documents"):
        perplexity = document_perplexities(str(Path(args.model).resolve()), table.column("text"))
    cutoffs = bucket_cutoffs(perplexity.to_numpy(zero_copy_only=False), languages)
    Path(args.output).write_text(
        json.dumps({"percentiles": [30, 60], "cutoffs": cutoffs}, indent=2), encoding="utf-8"
    )
    print(json.dumps(cutoffs))
    return 0


def classifier_train_command(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from pydantic import ValidationError

    from filters.classifier_training import FastTextParams, train_classifier

    given = {name: getattr(args, name) for name in FastTextParams.model_fields}
    try:
        params = FastTextParams(**given)
    except ValidationError as err:
        problems = format_validation_error(err).splitlines()
        raise ConfigError("; ".join(f"--{problem}" for problem in problems)) from None
    make_folder("--output", Path(args.output).parent)
    positives = _texts("--positive", args.positive, args.wikitext)
    negatives = _texts("--negative", args.negative, args.wikitext)
    with plain_console(stderr=True).status(
        f"fastText: {len(positives):,} hq, {len(negatives):,} cc"
    ):
        evaluation = train_classifier(
            positives, negatives, args.output, params, args.valid_fraction, args.quantize
        )
    print(json.dumps({"model": args.output, "held_out": evaluation and asdict(evaluation)}))
    return 0


def _texts(flag: str, paths: list[str], wikitext: bool) -> list[str]:
    """The examples in `paths` that hold more than blanks; a ConfigError where none do."""
    from filters.training_text import read_examples

    texts = read_examples(paths, wikitext=wikitext).column("text").to_pylist()
    texts = [text for text in texts if text and not text.isspace()]
    if not texts:
        raise ConfigError(f"{flag} {' '.join(paths)}: no text to train on in it")
    return texts
