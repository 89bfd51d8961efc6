"""Training a fastText quality classifier, DCLM style: reference text (`hq`) against web text (`cc`).

Each example is one line of fastText input, `__label__hq text...`, with the text's lines
joined by spaces exactly as filters.fasttext_model joins them when it scores. The
hyper-parameters default to DCLM's (supervised, lr 0.1, word bigrams, dim 100, 5 epochs;
fastText's defaults otherwise); a share of the examples is held out to report precision
and recall of `hq` at the 0.5 threshold. `quantize` writes the compressed `.ftz` form
(a few MB instead of hundreds), for models meant to be shipped.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from filters.child_process import run_child
from filters.fasttext_model import LABEL_PREFIX, load_model
from pipeline.schema import ConfigError, StrictModel

POSITIVE, NEGATIVE = "hq", "cc"
END_OF_LINE = "</s>"
"""The word fastText counts at the end of each example."""


class FastTextParams(StrictModel):
    lr: float = Field(default=0.1, gt=0)
    epoch: int = Field(default=5, gt=0)
    dim: int = Field(default=100, gt=0)
    wordNgrams: int = Field(default=2, ge=1)  # fastText's own names
    minCount: int = Field(default=1, ge=1)
    bucket: int = Field(default=2_000_000, ge=0)
    thread: int = Field(default=2, gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _ngrams_need_buckets(self) -> FastTextParams:
        if self.bucket == 0 and self.wordNgrams > 1:  # fastText dies of SIGFPE
            raise ValueError("bucket 0 leaves word n-grams nowhere to go: set wordNgrams 1")
        return self


@dataclass
class Evaluation:
    """How well the classifier tells held-out `hq` from `cc` at the 0.5 threshold; a measure
    is None where the held-out examples leave it undefined (none called `hq`, or of one kind)."""

    examples: int
    precision: float | None
    recall: float | None
    roc_auc: float | None


def fasttext_line(label: str, text: str) -> str:
    return f"{LABEL_PREFIX}{label} {' '.join(text.split())}"


def train_classifier(
    positives: list[str],
    negatives: list[str],
    output: str | Path,
    params: FastTextParams | None = None,
    valid_fraction: float = 0.1,
    quantize: bool = False,
) -> Evaluation | None:
    """Train on all but a random `valid_fraction` of the examples, save, and evaluate."""
    params = params or FastTextParams()
    positives = [text for text in positives if text.strip()]
    negatives = [text for text in negatives if text.strip()]
    examples = [(POSITIVE, text) for text in positives] + [(NEGATIVE, text) for text in negatives]
    random.Random(params.seed).shuffle(examples)
    held = int(len(examples) * valid_fraction)
    valid, train = examples[:held], examples[held:]
    for label, kind in ((POSITIVE, "positive"), (NEGATIVE, "negative")):
        if not any(example[0] == label for example in train):
            raise ConfigError(
                f"no {kind} example to train on ({len(examples) - held} of {len(examples)} "
                "examples are left after the hold-out): a classifier needs both kinds"
            )
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tokenmill-fasttext-") as work:
        corpus, saved = Path(work) / "train.txt", Path(work) / "model"
        corpus.write_text(
            "\n".join(fasttext_line(label, text) for label, text in train) + "\n", encoding="utf-8"
        )
        # In a fresh process: fastText's training diverges (NaN) on the same data and seed
        # in a process that has loaded the kenlm module, as every pipeline process has.
        child = [sys.executable, "-m", "filters.classifier_training", str(corpus), str(saved)]
        run_child([*child, params.model_dump_json(), str(int(quantize))], "fastText training")
        shutil.move(saved, output)  # complete or absent, never half-written
    load_model.cache_clear()  # a model just written over a path already loaded
    if not valid:
        return None
    held_positives = [text for label, text in valid if label == POSITIVE]
    held_negatives = [text for label, text in valid if label == NEGATIVE]
    return evaluate(output, held_positives, held_negatives)


def fit(corpus: str, output: str, params: FastTextParams, quantize: bool) -> None:
    """Train on a fastText-format file and save the model (run in a child process)."""
    import fasttext

    model = fasttext.train_supervised(input=corpus, verbose=0, **params.model_dump())
    if not set(model.words) - {END_OF_LINE}:
        sys.exit(
            f"no word occurs --minCount {params.minCount} times in the training examples, so "
            "the model has none to tell them apart by"
        )
    if quantize:
        model.quantize(input=corpus, qnorm=True, retrain=True, cutoff=100_000)
    model.save_model(output)


def evaluate(model_path: str | Path, positives: list[str], negatives: list[str]) -> Evaluation:
    scores = load_model(model_path).probability(positives + negatives, POSITIVE)
    truth = np.r_[np.ones(len(positives), bool), np.zeros(len(negatives), bool)]
    predicted = scores > 0.5
    true_positive = int((predicted & truth).sum())
    return Evaluation(
        examples=len(truth),
        precision=_share(true_positive, int(predicted.sum())),
        recall=_share(true_positive, int(truth.sum())),
        roc_auc=roc_auc(scores, truth),
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def roc_auc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return None
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def main(argv: list[str] | None = None) -> None:
    """The child process `train_classifier` starts; `tokenmill classifier train` is the command."""
    parser = argparse.ArgumentParser(
        prog="python -m filters.classifier_training",
        description="Fit one fastText model in this process (tokenmill classifier train runs "
        "it; use that).",
    )
    parser.add_argument("corpus", help="fastText input, one `__label__X text` line each")
    parser.add_argument("output", help="where the model is saved")
    parser.add_argument("params", type=FastTextParams.model_validate_json, help="as JSON")
    parser.add_argument("quantize", choices=["0", "1"], help="1 writes the .ftz form")
    args = parser.parse_args(argv)
    fit(args.corpus, args.output, args.params, args.quantize == "1")


if __name__ == "__main__":
    main()
