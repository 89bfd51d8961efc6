"""Per-language rules: FineWeb-2's published thresholds and stop words for each language.

FineWeb-2 (Penedo et al. 2025, github.com/huggingface/fineweb-2) derived, for each of its
1,929 languages, the Gopher repetition, Gopher quality and FineWeb thresholds and stop words
from that language's own data. `languages.json` holds them unchanged (with the source
commit), built by `support/fineweb2_languages.py`, for each of lid.176's languages;
`glotlid_languages.json` holds every other FineWeb-2 config under its GlotLID label
(`nso_Latn`), so a GlotLID model's labels all find their published rules. Each comes with how
datatrove splits the language's words (`words`: spaCy's rules, its own or a neighbour's where
spaCy has none, or the language whose segmenter it uses).
A language FineWeb-2 has no config for takes the fallback there: per threshold, the median of
FineWeb-2's published values over all its configs, with spaCy's stop words for the language
(the stop-word rule is off where spaCy has none).

How a config becomes rules is FineWeb-2's pipeline (`fineweb-2-pipeline.py`, step 5): Gopher
repetition with the paragraph and line-character rules off; FineWeb with the short-line rule
off and duplicated-line characters up to 0.1; Gopher quality with the language's word
lengths, alphabetic share and stop words (at least 2); no C4. English keeps the published
(English) rules: FineWeb-2 has no English config.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from filters.torch_hidden import torch_hidden

ENGLISH = "en"
FINEWEB_MIN_LANGUAGE_SCORE = 0.65
"""FineWeb's language-ID threshold for English (lid.176), datatrove's LanguageFilter default."""

FINEWEB2_PIPELINE: dict[str, dict[str, Any] | None] = {
    "gopher_repetition": {"dup_para_frac": 0, "dup_line_char_frac": 0, "dup_para_char_frac": 0},
    "fineweb": {"short_line_thr": 999, "char_duplicates_ratio": 0.1},
    "gopher_quality": {"min_stop_words": 2},
    "c4": None,
}
"""The settings FineWeb-2's per-language filtering step fixes for every language; `None`:
the family does not run."""


@cache
def fineweb2_table() -> dict:
    """`languages.json`: `languages` (lid.176 code → FineWeb-2 config), `fallback`, `glotlid`
    (ISO 639-3 code → lid.176 code), `source`."""
    return json.loads((files("filters.quality") / "languages.json").read_text("utf-8"))


@cache
def glotlid_configs() -> dict[str, dict]:
    """`glotlid_languages.json`: the FineWeb-2 configs no lid.176 language uses, by GlotLID
    label (`nso_Latn`). 1.5 MB: read only when a document carries such a label."""
    text = (files("filters.quality") / "glotlid_languages.json").read_text("utf-8")
    return json.loads(text)["languages"]


def language_entry(language: str) -> dict | None:
    """The table's entry for `language` (a lid.176 code or a GlotLID label): its FineWeb-2
    config name (`fineweb2`, None where FineWeb-2 has none), its `words` and the config."""
    entry = fineweb2_table()["languages"].get(language)
    if entry is None and "_" in language:
        entry = glotlid_configs().get(language)
    return entry


def rules_language(label: str) -> str:
    """The language whose rules apply to a language-ID label. lid.176's labels are that
    language already. A GlotLID label (`deu_Latn`) is the lid.176 language whose FineWeb-2
    config it names (`de`), or itself where FineWeb-2 published a config for it that no
    lid.176 language uses (`nso_Latn`); else the lid.176 language its ISO 639-3 code belongs
    to (`ara_Latn` → `ar`); else itself, with the fallback rules."""
    if label in _config_languages():
        return _config_languages()[label]
    if "_" in label and label in glotlid_configs():  # never read for lid.176's labels
        return label
    return fineweb2_table()["glotlid"].get(label.split("_", 1)[0], label)


@cache
def lid176_languages() -> frozenset[str]:
    """The languages lid.176, the default language-ID model, labels: English and those of
    `languages.json`."""
    return frozenset({ENGLISH, *fineweb2_table()["languages"]})


@cache
def _config_languages() -> dict[str, str]:
    """FineWeb-2 config name (`deu_Latn`) → the lid.176 language whose rules it is (`de`)."""
    languages = fineweb2_table()["languages"].items()
    return {entry["fineweb2"]: language for language, entry in languages if entry["fineweb2"]}


def min_language_score(language: str) -> float:
    """FineWeb-2's minimum language-ID score for `language` (derived per language on GlotLID's
    scores; `de` 0.821), FineWeb's 0.65 for English, the median over FineWeb-2's configs for a
    language it has none for."""
    if language == ENGLISH:
        return FINEWEB_MIN_LANGUAGE_SCORE
    return _published_values(language)["language_score"]


def words_language(language: str) -> str:
    """The language whose word splitting `language` gets, as datatrove splits it: spaCy's
    rules of a proxy where spaCy has none of its own (`sr` for Bosnian, `zh` for Cantonese,
    `xx` where datatrove splits at spaces), the language of the segmenter datatrove uses (`my`
    for Shan), else the language itself."""
    return (language_entry(language) or {}).get("words") or language


def _published_values(language: str) -> dict[str, Any]:
    """`language`'s FineWeb-2 config, or the fallback where FineWeb-2 published none."""
    entry = language_entry(language) or {"fineweb2": None}
    return entry if entry["fineweb2"] is not None else fineweb2_table()["fallback"]


@cache
def published(language: str) -> dict[str, dict[str, Any] | None]:
    """Family name → the settings FineWeb-2 publishes for `language` (None: the family is off)."""
    values = _published_values(language)
    stop_words = (language_entry(language) or {}).get("stopwords") or _spacy_stop_words(language)
    settings = {
        "gopher_repetition": {
            "dup_line_frac": values["dup_line_frac"],
            "top_n_grams": dict(values["top_n_grams"]),
            "dup_n_grams": dict(values["dup_n_grams"]),
        },
        "fineweb": {
            "line_punct_thr": values["line_punct_thr"],
            "new_line_ratio": values["new_line_ratio"],
        },
        "gopher_quality": {
            "min_avg_word_length": values["min_avg_word_length"],
            "max_avg_word_length": values["max_avg_word_length"],
            # datatrove's `max_non_alpha_words_ratio` is the least share of alphabetic words.
            "min_alpha_words_ratio": values["max_non_alpha_words_ratio"],
            "stop_words": stop_words,
        },
    }
    rules: dict[str, dict[str, Any] | None] = {}
    for family, fixed in FINEWEB2_PIPELINE.items():
        rules[family] = None if fixed is None else {**fixed, **settings[family]}
    if not stop_words:
        rules["gopher_quality"]["min_stop_words"] = None
    return rules


def _spacy_stop_words(language: str) -> list[str]:
    """spaCy's stop words for a language FineWeb-2 has none for (none where spaCy lacks it)."""
    with torch_hidden():
        from spacy.util import get_lang_class

    try:
        return sorted(get_lang_class(language).Defaults.stop_words)
    except ImportError:  # spaCy has no such language
        return []
