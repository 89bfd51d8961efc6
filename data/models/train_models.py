"""Train the small models the quickstart ships (``data/models``), from the shared corpora.

Run ``python -m data.models.train_models [--corpora DIR]`` from the repository root
(default ``../shared/corpora`` beside it; it needs ``make install`` for lmplz). It writes:

* ``wiki-en.binary``: a 5-gram KenLM model of the detokenised WikiText-2 validation and
  test articles (n-grams above bigrams seen once pruned, trie, 8-bit quantised: small), for the `perplexity` stage;
* ``quality.ftz``: a quantised fastText classifier, detokenised WikiText-2 paragraphs
  (`hq`) against every page of the trafilatura evaluation WARC as our `extract` stage
  (trafilatura engine) gives them (`cc`), DCLM's hyper-parameters with a smaller
  dimension and hash table, for the `classifier` stage;
* ``cutoffs.json``: perplexity bucket cutoffs of those pages, per language (lid.176).

These are models of a 2.4 MB Wikipedia sample: good enough for the demo and for telling
encyclopedic prose from web boilerplate, not a replacement for a model trained on a full
Wikipedia dump. Shipped rather than trained by `make demo` so the demo runs in seconds
and works without the shared corpora.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow as pa

from filters.classifier_training import FastTextParams, train_classifier
from filters.fasttext_model import lid176_path, load_model
from filters.kenlm_model import document_perplexities, train_kenlm
from filters.perplexity import bucket_cutoffs
from filters.wikitext import paragraphs
from support.extracted_pages import extracted_pages

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", type=Path, default=HERE.parents[2] / "shared" / "corpora")
    parser.add_argument("--output", type=Path, default=HERE)
    args = parser.parse_args()
    wiki = [
        *paragraphs(args.corpora / "text" / "wikitext-2-valid.txt"),
        *paragraphs(args.corpora / "text" / "wikitext-2-test.txt"),
    ]
    lm = args.output / "wiki-en.binary"
    train_kenlm(wiki, lm, structure="trie", quantize_bits=8, prune=[0, 0, 1, 1, 1])
    warc = args.corpora / "web" / "trafilatura-eval.warc.gz"
    pages = extracted_pages(warc, "trafilatura")["text"].to_pylist()
    params = FastTextParams(dim=16, bucket=200_000, epoch=10, thread=1)  # reproducible
    evaluation = train_classifier(wiki, pages, args.output / "quality.ftz", params, quantize=True)
    print(f"quality.ftz held out: {evaluation}")
    languages, _ = load_model(lid176_path()).top(pages)
    perplexity = document_perplexities(str(lm), pa.array(pages, pa.string()))
    cutoffs = bucket_cutoffs(perplexity.to_numpy(zero_copy_only=False), languages)
    cutoffs_file = args.output / "cutoffs.json"
    cutoffs_file.write_text(json.dumps({"percentiles": [30, 60], "cutoffs": cutoffs}, indent=2))
    for model in sorted(args.output.glob("*.*")):
        print(f"{model.name}: {model.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
