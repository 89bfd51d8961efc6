"""Builds `filters/quality/languages.json` and `glotlid_languages.json`: FineWeb-2's published
per-language filter thresholds and stop words, for every language the `language` stage can
emit: each of lid.176's languages, and (the second file) each of FineWeb-2's other configs
under its GlotLID label (`nso_Latn`).

Reads, without changing a value:
- FineWeb-2's `configs/{iso639_3}_{Script}.yml` (github.com/huggingface/fineweb-2, Apache-2.0),
  from a git snapshot of that repository at the commit it records;
- datatrove's `assets/tokenizer_assignment.csv` (Apache-2.0), for which ISO 639-3 code and
  script FineWeb-2 (and datatrove) take as the default for an ISO 639-1 code (`zh` →
  `cmn_Hani`, `ar` → `arb_Arab`), which 639-3 codes share a 639-1 one (GlotLID labels), and
  how datatrove splits a language's words (`words`: the spaCy rules it uses, `sr` for
  Bosnian, `zh` for Cantonese; or the language whose segmenter it uses, `my` for Shan);
- the labels of lid.176, the default language-ID model.

A language FineWeb-2 has no config for (`"fineweb2": null`) gets the fallback: for each
threshold, the median of FineWeb-2's published values over all its configs (FineWeb-2 derived
each from a language's own distribution of that signal; the median is the typical
language's). Its stop words are spaCy's, looked up when the rules are made.

    python -m support.fineweb2_languages FINEWEB2_GIT_DIR [--out filters/quality]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
from pathlib import Path

import yaml

from filters.fasttext_model import lid176_path, load_model

REPOSITORY = "https://github.com/huggingface/fineweb-2"
OUT = Path(__file__).resolve().parents[1] / "filters" / "quality"
TABLES = ("languages.json", "glotlid_languages.json")
SCALARS = (
    "dup_line_frac",
    "language_score",
    "line_punct_thr",
    "max_avg_word_length",
    "max_non_alpha_words_ratio",
    "min_avg_word_length",
    "new_line_ratio",
)
NGRAM_LISTS = ("top_n_grams", "dup_n_grams")


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
    ).stdout


def fineweb2_configs(git_dir: Path) -> dict[str, dict]:
    """`deu_Latn` → its config, as published."""
    names = git(git_dir, "ls-tree", "--name-only", "HEAD", "configs/").split()
    return {
        Path(name).stem: yaml.safe_load(git(git_dir, "show", f"HEAD:{name}"))
        for name in names
        if name.endswith(".yml")
    }


def code_rows() -> list[dict]:
    from datatrove.utils._import_utils import ASSETS_PATH

    with open(Path(ASSETS_PATH) / "tokenizer_assignment.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def default_row(code: str, rows: list[dict]) -> dict | None:
    """The row of a lid.176 label: a 639-1 code through its default 639-3 code and script, a
    639-3 code through its default script; else a 639-1 code's only 639-3 code (`no`: the
    macrolanguage `nor`, which has a tokenizer but no FineWeb-2 config)."""
    for row in rows:
        two_letter = row["code_1"] == code and row["default_code_1"] == "TRUE"
        three_letter = row["code_3"] == code
        if (two_letter or three_letter) and row["default_script"] == "TRUE":
            return row
    named = [row for row in rows if row["code_1"] == code and row["default_script"] == "TRUE"]
    return named[0] if len(named) == 1 else None


def config_name(row: dict | None, configs: dict) -> str | None:
    """The FineWeb-2 config of a row's language and script, if FineWeb-2 published one."""
    name = row and f"{row['code_3']}_{row['script']}"
    return name if name in configs else None


SEGMENTED = {
    "ThaiTokenizer": "th",
    "BurmeseTokenizer": "my",
    "KhmerTokenizer": "km",
    "LaoTokenizer": "lo",
    "KiwiTokenizer": "ko",
    "TibetanTokenizer": "bo",
}
"""datatrove's segmenter tokenizers, by the language whose splitting we give them."""


def words_language(row: dict | None) -> str | None:
    """The language whose word splitting datatrove gives the row's language: the spaCy rules
    it uses (a proxy such as `sr` for Bosnian, `zh` for Cantonese, `xx` for its whitespace
    tokenizer) or the language of its segmenter (`my` for Shan's Burmese tokenizer); None
    where it uses a tokenizer we do not have (IndicNLP, Stanza, ...)."""
    if row is None:
        return None
    spacy = {"SpaCyTokenizer": row["tok_code"], "WhitespaceTokenizer": "xx"}
    return {**spacy, **SEGMENTED}.get(row["type"])


def label_row(label: str, rows: list[dict]) -> dict | None:
    """The row of a GlotLID label (`nso_Latn`): its ISO 639-3 code and script."""
    code, script = label.split("_", 1)
    return next((row for row in rows if (row["code_3"], row["script"]) == (code, script)), None)


def fallback(configs: dict) -> dict:
    """Per threshold, the median over FineWeb-2's configs."""
    values = {key: statistics.median(c[key] for c in configs.values()) for key in SCALARS}
    for key in NGRAM_LISTS:
        sizes = sorted({n for c in configs.values() for n, _ in c[key]})
        values[key] = [
            [n, statistics.median(v for c in configs.values() for m, v in c[key] if m == n)]
            for n in sizes
        ]
    return values


def build(git_dir: Path) -> tuple[dict, dict]:
    """`languages.json` (lid.176's languages) and `glotlid_languages.json` (FineWeb-2's other
    configs, by GlotLID label), apart so that a run on lid.176's labels reads 150 KB, not
    1.7 MB."""
    configs = fineweb2_configs(git_dir)
    rows = code_rows()
    labels = sorted(load_model(lid176_path()).labels)
    languages = {}
    for code in labels:
        if code == "en":  # English keeps the published (English) rules
            continue
        row = default_row(code, rows)
        name = config_name(row, configs)
        languages[code] = {
            "fineweb2": name,
            "words": words_language(row),
            **(configs[name] if name is not None else {}),
        }
    claimed = {entry["fineweb2"] for entry in languages.values()}
    others = {
        name: {"fineweb2": name, "words": words_language(label_row(name, rows)), **configs[name]}
        for name in sorted(set(configs) - claimed)
    }
    glotlid = {row["code_3"]: row["code_1"] for row in rows if row["code_1"] in labels}
    glotlid.update({code: code for code in labels if len(code) == 3})
    source = {
        "repository": REPOSITORY,
        "commit": git(git_dir, "rev-parse", "HEAD").strip(),
        "files": "configs/{fineweb2}.yml, unchanged (language_score: the language "
        "stage's threshold with `min_score: fineweb2`)",
        "license": "Apache-2.0",
        "codes": "datatrove 0.10.1 assets/tokenizer_assignment.csv (Apache-2.0), also "
        "for `words`: the spaCy rules or segmenter datatrove splits the language's words "
        "with",
    }
    table = {
        "source": source,
        "fallback": {
            "derived": f"per threshold, the median over FineWeb-2's {len(configs)} configs",
            **fallback(configs),
        },
        "languages": languages,
        "glotlid": dict(sorted(glotlid.items())),
    }
    return table, {"source": source, "languages": others}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("git_dir", type=Path, help="a git snapshot of huggingface/fineweb-2")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the two tables")
    args = parser.parse_args()
    for name, table in zip(TABLES, build(args.git_dir), strict=True):
        (args.out / name).write_text(
            json.dumps(table, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
