"""The heuristic quality rules: each family on crafted texts, config validation, and the same
keep/drop decisions as datatrove's filters on real extracted pages."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pytest

from filters.quality.stage import FAMILIES, PUBLISHED, Quality
from pipeline.config import validate_config
from pipeline.schema import ConfigError, read_config
from tests.conftest import ROOT, SAMPLE, funnel, job, read_documents, run

FAMILY_NAMES = tuple(family.name for family in FAMILIES)

PROSE = (
    "The old lighthouse stood at the end of the harbour wall, and the keepers had to climb "
    "its stairs every evening. They lit the lamp with care, because the ships that came in "
    "from the sea depended on it. In the morning the keepers wrote down the weather and the "
    "ships that had passed. The work was hard and lonely, but most of them stayed for years. "
    "Today the light is automatic, and the tower is a museum that is open to visitors."
).replace(". ", ".\n")


def alone(families: dict) -> dict:
    """Params that run exactly the named families (every published one for `{}`)."""
    return {**{name: False for name in PUBLISHED}, **families} if families else {}


def quality(families: dict, texts: list[str], urls: list[str] | None = None):
    """The verdict of exactly the named families on `texts`."""
    table = pa.table({"text": texts, "url": urls or [None] * len(texts)})
    return Quality(Quality.Params.model_validate(alone(families))).process(table)


def test_prose_passes_every_published_family():
    verdict = quality({}, [PROSE])
    assert verdict.removed.to_pylist() == [None]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too short to be a document.", "gopher_quality.min_doc_words"),
        ("# " * 40 + "\n" + PROSE, "gopher_quality.max_symbol_word_ratio"),
        ("\n".join(["- item one two three"] * 30), "gopher_quality.max_bullet_lines_ratio"),
        (
            re.sub(r"\b(the|be|to|of|and|that|have|with)\b", "", PROSE),
            "gopher_quality.min_stop_words",
        ),
    ],
)
def test_gopher_quality_names_the_rule(text, reason):
    assert quality({"gopher_quality": {}}, [text]).removed.to_pylist() == [reason]


def test_a_removal_says_what_the_rule_measured_and_its_threshold():
    """The measured value is datatrove's: the share of its word tokens that hold a letter."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    text = PROSE + "\n" + " ".join(["2024"] * 40)
    words = load_word_tokenizer("en").word_tokenize(text)
    alpha = sum(any(c.isalpha() for c in word) for word in words) / len(words)
    verdict = quality({"gopher_quality": {}}, [text, PROSE])
    assert verdict.removed.to_pylist() == ["gopher_quality.min_alpha_words_ratio", None]
    assert verdict.details.to_pylist() == [f"{alpha:.4g} < 0.8", None]
    items = "\n".join(f"item {n}" for n in range(12))  # 12 short lines; PROSE has 5 long ones
    fineweb = quality({"fineweb": {}}, [items + "\n" + PROSE])
    assert fineweb.removed.to_pylist() == ["fineweb.short_line_thr"]
    assert fineweb.details.to_pylist() == [f"{12 / 17:.4g} > 0.67"]


def test_gopher_repetition_catches_repeated_lines_and_ngrams():
    repeated_lines = "\n".join(["Buy cheap shoes online today."] * 10 + [PROSE])
    verdict = quality({"gopher_repetition": {}}, [repeated_lines, PROSE, ""])
    assert verdict.removed.to_pylist() == [
        "gopher_repetition.dup_line_frac",
        None,
        "gopher_repetition.empty",
    ]
    spam = PROSE + "\n" + " ".join(["best price fast shipping now"] * 40)
    assert (
        quality({"gopher_repetition": {}}, [spam])
        .removed.to_pylist()[0]
        .startswith("gopher_repetition.top_n_grams.")
    )


def test_ngrams_stay_inside_their_text():
    """The last word of a text and the first of the next make no bigram: here such a bigram
    ("red blue") would repeat one of the first text's."""
    from filters.quality.signals import Signals
    from filters.quality.words import WordSplitter

    signals = Signals(pa.array(["red blue blue red", "blue x blue"]), WordSplitter())
    assert signals.repeated_ngrams(2).start.tolist() == []


def test_repeated_ngrams_are_those_a_text_holds_twice():
    """Against a recount in Python, for every n the rules may be set to (1 included), on
    64 texts over a small vocabulary, so that equal words fall in many texts."""
    import random

    from filters.quality.signals import Signals
    from filters.quality.words import WordSplitter

    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(12)]
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(1, 14))) for _ in range(64)]
    signals = Signals(pa.array(texts), WordSplitter())
    for n in range(1, 5):
        expected, start = [], 0
        for words in (text.split() for text in texts):
            grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
            expected += [start + i for i, gram in enumerate(grams) if grams.count(gram) > 1]
            start += len(words)
        assert signals.repeated_ngrams(n).start.tolist() == expected, n


@pytest.mark.parametrize("text", ["a\nb\n\nc\n", "a\r\nb\rc\x0cd\u2028e\n\n"])
def test_lines_are_splitlines(text):
    from filters.quality.signals import Signals
    from filters.quality.words import WordSplitter

    lines = Signals(pa.array([text, "x\ny"]), WordSplitter()).lines
    assert lines.values.to_pylist() == [*text.splitlines(), "x", "y"]


def test_line_runs_and_paragraphs_are_re_split():
    """Gopher repetition's lines and paragraphs, as datatrove cuts them, on texts of
    newlines, spaces and letters (blank lines first, last and in runs)."""
    import random
    from itertools import pairwise

    from filters.quality.signals import Signals
    from filters.quality.words import WordSplitter

    rng = random.Random(0)
    texts = ["", "\n", "\n\n", "a\n\nb", "\n\na\n\n"]
    texts += ["".join(rng.choices("\n\n a\r", k=rng.randint(0, 12))) for _ in range(500)]
    signals = Signals(pa.array(texts), WordSplitter())
    for pieces, cut in (
        (signals.line_runs, lambda text: re.split("\n+", text)),
        (signals.paragraphs, lambda text: re.split("\n{2,}", text.strip())),
    ):
        values = pieces.values.to_pylist()
        assert [values[a:b] for a, b in pairwise(pieces.offsets)] == list(map(cut, texts))


def test_repeated_pieces_are_those_met_earlier_in_their_text():
    """Lines of equal length that differ, equal lines in other texts, and repeats, against
    a set per text."""
    import random
    from itertools import pairwise

    from filters.quality.signals import Signals
    from filters.quality.words import WordSplitter

    rng = random.Random(0)
    texts = ["", "ab\nba\nab", "é\ne\né"]
    texts += ["\n".join(rng.choices(["ab", "ba", "abc", "", "é"], k=9)) for _ in range(300)]
    lines = Signals(pa.array(texts), WordSplitter()).newline_lines
    values, repeated = lines.values.to_pylist(), lines.repeated.tolist()
    for start, end in pairwise(lines.offsets):
        seen: set[str] = set()
        for value, flag in zip(values[start:end], repeated[start:end], strict=True):
            assert flag == (value in seen)
            seen.add(value)


def test_c4_removes_lines_counts_them_and_drops_documents():
    page = f"Home | About | Contact\n{PROSE}\nPlease enable Javascript to see comments.\nRead our privacy policy."
    verdict = quality(
        {"c4": {}},
        [
            page,
            PROSE + "\nLorem ipsum dolor sit amet.",
            "Only two sentences are here. That is all.",
        ],
    )
    assert verdict.removed.to_pylist() == [None, "c4.lorem_ipsum", "c4.min_num_sentences"]
    assert verdict.table["text"][0].as_py() == PROSE
    assert verdict.counters["lines_removed.c4_no_terminal_punct"] == 1
    assert verdict.counters["lines_removed.c4_javascript"] == 1
    assert verdict.counters["lines_removed.c4_policy"] == 1
    curly = quality({"c4": {"min_num_sentences": None}}, [PROSE + "\nvar x = {a: 1} is code."])
    assert curly.removed.to_pylist() == ["c4.curly_bracket"]


def test_c4_counts_words_as_str_split():
    import sys

    from filters.quality.c4 import _has_words
    from filters.quality.text import WHITESPACE

    assert set(WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    lines = ["", " ", "one", "one two", " a\x1fb\xa0c ", "x\u3000y z", "a  b\tc d", "é ü ß"]
    for count in (1, 2, 3, 4):
        has = _has_words(pa.array(lines), count).tolist()
        assert has == [len(line.split()) >= count for line in lines]


def test_fineweb_catches_lists_and_short_lines():
    listing = "\n".join(f"Product {i}" for i in range(40))
    assert quality({"fineweb": {}}, [listing, PROSE]).removed.to_pylist() == [
        "fineweb.line_punct_thr",
        None,
    ]
    relaxed = {"fineweb": {"line_punct_thr": 0.0, "short_line_thr": 1.0}}
    assert quality(relaxed, [listing]).removed.to_pylist() == ["fineweb.new_line_ratio"]


@pytest.mark.parametrize("endings", [[], [".", "?"], ["...", "!)"], ["$", "[1]", "。"]])
def test_fineweb_line_ends_as_str_endswith(endings):
    from filters.quality.fineweb import _ends_with_any

    lines = ["Done.", "Why?", "wait...", "(yes!)", "cost $", "see [1]", "終わり。", "", "x"]
    found = _ends_with_any(pa.array(lines), endings).tolist()
    assert found == [line.endswith(tuple(endings)) for line in lines]


def test_blocklist_is_off_unless_lists_are_given(tmp_path):
    urls = ["https://news.spam.example/a", "https://example.org/b", None]
    texts = [PROSE, PROSE + "\nDamn it.", PROSE]
    assert quality({}, texts, urls).removed.to_pylist() == [None] * 3
    domains = tmp_path / "domains.txt"
    domains.write_text("# blocked\nspam.example\n")
    lists = {"domains_file": str(domains), "bad_words": ["DAMN"]}
    assert quality({"blocklist": lists}, texts, urls).removed.to_pylist() == [
        "blocklist.domains",
        "blocklist.bad_words",
        None,
    ]
    # Written as a URL, a wildcard, a hosts file's line, in Unicode or with a trailing dot:
    # each was a rule that matched nothing; anything else that is not a domain is refused.
    urls = [
        "https://a.example/x",
        "http://news.b.example./y",
        "https://xn--bcher-kva.de/z",
        "http://cdn.ads.example/",
        "https://fine.example/",
    ]
    domains.write_text(
        "https://A.example/path\n*.b.example\n0.0.0.0 ads.example tracker.example\nbücher.de.\n"
    )
    removed = quality({"blocklist": lists}, [PROSE] * 5, urls).removed.to_pylist()
    assert removed == ["blocklist.domains"] * 4 + [None]
    for entry in ("spam example", "||ads.example^"):
        with pytest.raises(ConfigError, match=re.escape(f"domains: {entry!r} is not a domain")):
            _stages({"quality": {"blocklist": {"domains": [entry]}}})
    domains.write_bytes(b"spam.example\n\xe9\n")  # Latin-1: refused when the config is read
    with pytest.raises(ConfigError, match=re.escape(f"blocklist: {domains}: not UTF-8 text")):
        _stages({"quality": {"blocklist": lists}})


def test_families_chain_and_c4_text_feeds_fineweb():
    texts = [PROSE, "Too short.", "Lorem ipsum dolor sit amet.\n" + PROSE]
    verdict = quality({}, texts)
    # Repetition runs first: in a two-word text the top 2-gram is the whole text.
    assert verdict.removed.to_pylist() == [
        None,
        "gopher_repetition.top_n_grams.2",
        "c4.lorem_ipsum",
    ]


def _stages(params) -> list:
    inputs = [{"source": "wiki", "format": "jsonl", "paths": ["x.jsonl"]}]
    return validate_config(
        {"name": "t", "output": "o", "inputs": inputs, "stages": [params]}
    ).stages


def families_on(spec) -> set[str]:
    return {name for name in FAMILY_NAMES if getattr(spec.params, name) is not None}


def test_config_defaults_merge_and_families_turn_off_by_name():
    published = set(PUBLISHED)
    for params in ({}, {"timeout": 5}, {"c4": True}):
        [spec] = _stages({"quality": params})
        assert families_on(spec) == published
    assert spec.params == Quality.Params()
    # One threshold changed: every family still runs, the others at their published values.
    [spec] = _stages({"quality": {"gopher_repetition": {"top_n_grams": {"2": 0.3}}}})
    assert families_on(spec) == published
    assert spec.params.gopher_repetition.top_n_grams[2] == 0.3
    assert (
        spec.params.gopher_repetition.top_n_grams[3]
        == Quality.Params().gopher_repetition.top_n_grams[3]
    )
    assert spec.params.c4 == Quality.Params().c4
    [spec] = _stages({"quality": {"gopher_repetition": {"top_n_grams": {"4": None}}}})
    assert spec.params.gopher_repetition.top_n_grams == {2: 0.2, 3: 0.18}
    [spec] = _stages({"quality": {"c4": False, "fineweb": False}})
    assert families_on(spec) == {"gopher_repetition", "gopher_quality"}
    [spec] = _stages({"quality": {"blocklist": {"domains": ["spam.example"]}}})
    assert families_on(spec) == published | {"blocklist"}


def test_loosening_a_threshold_with_set_keeps_at_least_what_it_kept():
    """`--set` one Gopher threshold on the quickstart: the other families stay on (they
    were turned off, and the looser run kept fewer documents)."""
    loose = "stages.quality.gopher_quality.min_alpha_words_ratio=0.7"
    data = read_config(str(ROOT / "configs" / "quickstart.yaml"), [loose])
    [spec] = [s for s in validate_config(data).stages if s.name == "quality"]
    assert families_on(spec) == set(PUBLISHED)
    assert spec.params.gopher_quality.min_alpha_words_ratio == 0.7
    texts = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    texts += [PROSE, "# " * 40 + "\n" + PROSE, "\n".join(f"Product {i}" for i in range(40))]
    table = pa.table({"text": texts, "url": [None] * len(texts)})
    kept = {
        name: {
            i for i, r in enumerate(Quality(params).process(table).removed.to_pylist()) if r is None
        }
        for name, params in (("published", Quality.Params()), ("loose", spec.params))
    }
    assert kept["published"] <= kept["loose"] and len(kept["published"]) < len(texts)
    for params, key in [
        ({"gopher": {}}, "stages.quality.gopher"),
        ({"c4": {"min_sentences": 3}}, "stages.quality.c4.min_sentences"),
        (
            {"gopher_quality": {"min_doc_words": "fifty"}},
            "stages.quality.gopher_quality.min_doc_words",
        ),
        ({"fineweb": {"line_punct_thr": "0.1"}}, "stages.quality.fineweb.line_punct_thr"),
        ({"c4": {"filter_policy": "yes"}}, "stages.quality.c4.filter_policy"),
        ({"timeout": 0}, "stages.quality.timeout"),
        # Each of these removed every document.
        (
            {"gopher_quality": {"stop_words": []}},
            "stages.quality.gopher_quality: stop_words is empty, so min_stop_words 2",
        ),
        ({"fineweb": {"stop_chars": []}}, "stages.quality.fineweb.stop_chars: empty"),
        ({"fineweb": {"stop_chars": [".", ""]}}, "stages.quality.fineweb.stop_chars: empty"),
    ]:
        with pytest.raises(ConfigError, match=key):
            _stages({"quality": params})
    off = {"gopher_quality": {"stop_words": [], "min_stop_words": None}}
    assert _stages({"quality": off})


def test_quality_stage_in_a_run(local_ray, tmp_path):
    inputs = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]
    stages = [{"quality": {"gopher_quality": {"min_doc_words": 120}}}]
    summary = run(job(tmp_path / "out", inputs, stages, keep_removed=True))
    stage = funnel(summary)["quality"]
    assert stage["kept"] == len(read_documents(tmp_path / "out")) > 0
    assert stage["docs_in"] == stage["kept"] + sum(stage["removed"].values())
    samples = summary.report["removed_samples"]["quality"]
    measured = [entry["detail"] for entries in samples.values() for entry in entries]
    assert measured and all(re.fullmatch(r"\d+ < 120", detail) for detail in measured)


DATATROVE = {
    "gopher_quality": "GopherQualityFilter",
    "gopher_repetition": "GopherRepetitionFilter",
    "c4": "C4QualityFilter",
    "fineweb": "FineWebQualityFilter",
}


def test_same_decisions_as_datatrove_on_trafilatura_pages(trafilatura_pages):
    """Each family with datatrove's default thresholds decides as datatrove's filter on ≥ 99%
    of the extracted pages; every disagreement is printed."""
    from datatrove.data import Document
    from datatrove.pipeline import filters

    references = {family: getattr(filters, name)() for family, name in DATATROVE.items()}
    texts = trafilatura_pages["text"].to_pylist()
    theirs = {family: [] for family in DATATROVE}
    for index, text in enumerate(texts):  # one document through all four: one spaCy split
        for family, reference in references.items():
            decision = reference.filter(Document(text=text, id=str(index)))
            theirs[family].append(decision is True)
    for family in DATATROVE:
        ours = quality({family: {}}, texts).removed.to_pylist()
        differ = [i for i, keep in enumerate(theirs[family]) if keep != (ours[i] is None)]
        for i in differ:
            print(
                f"{family}: datatrove keeps={theirs[family][i]} ours={ours[i]} {trafilatura_pages['url'][i]}"
            )
        agreement = 1 - len(differ) / len(texts)
        print(f"{family}: {agreement:.4f} of {len(texts)} pages decided alike")
        assert agreement >= 0.99, family


def test_n_grams_of_hundreds_of_words_are_judged_as_datatrove_judges_them():
    """`top_n_grams: {1000: …}` recursed once per word of n (RecursionError on every page);
    texts shorter than n, with a repeated 500-gram, and with a repeated 700-gram."""
    import random

    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherRepetitionFilter

    rng = random.Random(0)
    words = [f"w{rng.randrange(10**6)}" for _ in range(2000)]
    texts = [
        " ".join(words[:50]),
        " ".join(words[:650] + words[:550]),
        " ".join(words[:750] * 2),
        " ".join(words[:1500]),
    ]
    top, dup = {500: 0.7}, {700: 0.3}
    off = dict.fromkeys(("dup_line_frac", "dup_para_frac", "dup_line_char_frac")) | {
        "dup_para_char_frac": None
    }
    reference = GopherRepetitionFilter(
        **off, top_n_grams=tuple(top.items()), dup_n_grams=tuple(dup.items())
    )
    theirs = [reference.filter(Document(text=t, id=str(i))) for i, t in enumerate(texts)]
    params = {**off, "top_n_grams": {2: None, 3: None, 4: None, **top}}
    params["dup_n_grams"] = {n: None for n in range(5, 11)} | dup
    ours = quality({"gopher_repetition": params}, texts).removed.to_pylist()
    assert [keep is True for keep in theirs] == [reason is None for reason in ours]
    assert ours == [
        None,
        "gopher_repetition.top_n_grams.500",
        "gopher_repetition.dup_n_grams.700",
        None,
    ]


@pytest.mark.parametrize("limit", [0, 12, 1000])
def test_c4_max_word_length_decides_as_datatrove(limit):
    """0 turned the rule off (it drops every line holding a word, as datatrove's does)."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter

    texts = [PROSE, PROSE.replace("the", "extraordinarily", 3), "short line.\n" + PROSE]
    reference = C4QualityFilter(max_word_length=limit)
    theirs = [reference.filter(Document(text=t, id=str(i))) is True for i, t in enumerate(texts)]
    ours = quality({"c4": {"max_word_length": limit}}, texts).removed.to_pylist()
    assert theirs == [reason is None for reason in ours]
    assert theirs[0] == (limit > 0) and theirs[1] == (limit > 12)


TRICKY = (
    "Club-Kultur (siehe „Verordnung“), etc.) U.S. BGB). Co. 19. 10-15 0,75 5km 3GB "
    "word.... a.. we're don't Shah’s “War—and” entführen.In e-mail: x@y.de https://a.b/c?d=1 "
    "(20 «Die» -Lösungen 1900s 24/7 £5 ©2024 ...yes :) :-) ☺. [1] {x} #tag 50% 12:30 A$ C$5 "
    "well-known, state-of-the-art. Wander-u. Ost-St. Jean-Pierre! x-ray; co-op. Ab-Cd. mid-"
    " cannot gonna Im 2024 ２０２４ Ⅻ localhost:8080 www.a-b.org/x. (mail@x.io) 8.8.8.8 a.b"
)


INDONESIAN = (
    "Anak-anak bermain di rumah-rumah. Dia pergi ke sekolah, dll. Rp5.000 (kira-kira) tgl. "
    "12/3. Sdr. Budi, S.H., M.Hum. orang-orangan! USDA IDRA Rupiah. Ulang, Saya <a>x</a> "
    "<a href=x>tautan</a>"
)
FRENCH = (
    "Aujourd'hui, c'est-à-dire l'État: «Qu'est-ce que» peut-être M. Dupont va-t-il à "
    "Saint-Étienne? 3,5 km. Mme. Dupuis-Martin, etc. (vis-à-vis) J'y suis."
)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", TRICKY),
        # Indonesian's 16,000 special cases (anak-anak) and French's (aujourd'hui), loaded
        # once after the guarded searches are in place.
        pytest.param("id", INDONESIAN, marks=pytest.mark.slow),
        pytest.param("fr", FRENCH, marks=pytest.mark.slow),
        # Turkish's token rule keeps ordinals whole: `II.`, `XIV.`, but `Ali` `.`
        ("tr", "II. Dünya Savaşı, XIV. Louis ve Ali. Bu."),
    ],
)
def test_word_split_is_spacys_on_tricky_chunks(language, text):
    """Our split (fast paths, guarded affix searches, cache) gives spaCy's plain tokens, with
    all of spaCy's special cases."""
    import spacy

    from filters.quality.words import WordSplitter

    plain = spacy.blank(language).tokenizer
    expected = [t.text.strip() for t in plain(text) if t.text.strip()]
    splitter = WordSplitter(language)
    assert splitter._spacy.rules == plain.rules
    for _ in range(2):  # cold, then from the chunk cache
        words = splitter.split(pa.array([text]))
        assert words.strings() == [expected]


def test_token_facts_are_pythons():
    """The per-token facts the rules read (plain words' told without a search) are those
    Python and spaCy give each token."""
    from filters.quality.text import PUNCTUATION_SET, sentence_punctuation
    from filters.quality.words import WordSplitter, punctuation_rule

    words = WordSplitter().split(pa.array([TRICKY, "1 22 abc Ab12 ?! １ 3.5 — ¿Qué? ..."]))
    tokens = words.vocabulary.tokens.to_pylist()
    expected = {
        "length": [len(token) for token in tokens],
        "has_alpha": [any(char.isalpha() for char in token) for token in tokens],
        "has_non_symbol": [any(char not in PUNCTUATION_SET for char in token) for token in tokens],
        "is_punct": list(map(punctuation_rule("en"), tokens)),
        "ends_sentence": [token in sentence_punctuation() for token in tokens],
    }
    for name, values in expected.items():
        assert words.vocabulary.fact(name).tolist() == values, name


def test_arrow_finds_every_character_python_calls_punctuation():
    """spaCy's `is_punct` asks Python's Unicode tables; the vocabulary asks it only about
    tokens Arrow's `\\p{P}` finds all punctuation, so Arrow's class must hold every character
    Python's does (Arrow's tables may be newer, and hold more)."""
    import unicodedata

    import pyarrow.compute as pc

    from filters.quality.words import ALL_PUNCTUATION

    codes = [code for code in range(0x110000) if not 0xD800 <= code < 0xE000]
    punctuation = [chr(code) for code in codes if unicodedata.category(chr(code))[0] == "P"]
    found = pc.match_substring_regex(pa.array(punctuation), ALL_PUNCTUATION)
    assert pc.all(found).as_py()


def test_affix_reach_tells_which_plain_words_an_affix_rule_can_cut():
    """Indonesian's prefixes hold currency codes (`USD` cuts `USDA`): a word of letters
    starting with such a code is not kept whole. A rule that needs a digit before it (`km`
    after a number) or a character of another kind (`'s`, a hyphen) cuts no word of letters;
    one the analysis cannot read could cut any."""
    import re

    from spacy.tokenizer import Tokenizer
    from spacy.vocab import Vocab

    from filters.quality.affixes import ASCII_DIGITS, LETTERS, affix_reach

    def tokenizer(prefix: str, suffix: str, infix: str) -> Tokenizer:
        return Tokenizer(
            Vocab(),
            prefix_search=re.compile(prefix).search,
            suffix_search=re.compile(suffix).search,
            infix_finditer=re.compile(infix).finditer,
        )

    rules = tokenizer(
        r"^USD|^Rp|^\(|^[0-9]+(?=x)", r"(?<=[0-9])km$|'s$|\)$", r"(?<=[a-z])-(?=[a-z])"
    )
    letters = affix_reach(rules, LETTERS)
    assert (letters.first, letters.last, letters.anywhere) == ({"U", "R"}, set(), set())
    assert letters.keeps("Saya") and not letters.keeps("USDA") and not letters.keeps("Rupiah")
    digits = affix_reach(rules, ASCII_DIGITS)
    assert (digits.first, digits.last, digits.anywhere) == (set(), set(), set())
    assert affix_reach(tokenizer(r"^\w+x", "x$", "x"), LETTERS).first is None


def test_languages_split_by_the_same_spacy_rules_share_one_tokenizer():
    """Bavarian is split with German's rules (FineWeb-2's proxy), and Javanese, Sundanese and
    four more with Malay's: one tokenizer each, loaded once (Malay's takes seconds). Welsh,
    which spaCy has no rules for, and 35 more are split with English's: the same one."""
    from filters.quality.words import spacy_tokenizer

    assert spacy_tokenizer("bar") is spacy_tokenizer("de")
    assert spacy_tokenizer("cy") is spacy_tokenizer("en")


def test_a_long_lived_stage_forgets_what_it_learned_and_still_splits_as_spacy(monkeypatch):
    """The stage lives as long as its process (a sandbox outlives shards). spaCy keeps no
    string of the chunks it is asked about, and past `MAX_LEARNED` chunks and tokens, all
    languages together, the splitters forget them all between batches, so memory stays
    bounded; what a splitter splits after forgetting is still spaCy's tokens."""
    import spacy

    from filters.quality import stage as quality_stage
    from filters.quality.words import WordSplitter, spacy_tokenizer

    plain = spacy.blank("en").tokenizer
    expected = [t.text.strip() for t in plain(TRICKY) if t.text.strip()]
    splitter = WordSplitter("en")
    for _ in range(2):  # cold, then after forgetting
        words = splitter.split(pa.array([TRICKY]))
        assert words.strings() == [expected]
        splitter.forget()

    monkeypatch.setattr(quality_stage, "MAX_LEARNED", 200)  # each language learns ~130 a batch
    stage = Quality(Quality.Params())
    strings = [len(spacy_tokenizer(language).vocab.strings) for language in ("en", "de")]
    learned = []
    for batch in range(4):
        texts = [f"({batch}a{n}-b{n}) x{batch}{n}'s {TRICKY}" for n in range(40)]
        stage.process(pa.table({"text": texts * 2, "language": ["en"] * 40 + ["de"] * 40}))
        learned.append(sum(splitter.learned for splitter in stage._splitters.values()))
    assert [len(spacy_tokenizer(language).vocab.strings) for language in ("en", "de")] == strings
    # Each batch learns as much as the first; nothing is kept from an earlier one.
    assert learned == [learned[0]] * 4, learned


def test_a_batch_leaves_no_reference_cycles():
    """A batch's arrays (words, n-gram tables: tens of MB for a few hundred pages) are
    freed when the call returns. Caught in a reference cycle, they would live on until
    Python's cycle collector ran, while the next batch took fresh memory. Only the stage's
    own objects are looked for: a thread an earlier test left may make garbage meanwhile."""
    import gc

    table = pa.table({"text": [PROSE, TRICKY, PROSE * 3] * 4, "language": ["en", "de", "fr"] * 4})
    stage = Quality(Quality.Params())
    stage.process(table)  # loads the languages' rules
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        stage.process(table)
        gc.collect()
        held = [
            type(part).__name__
            for thing in gc.garbage
            for part in (thing, *gc.get_referents(thing))
            if _of_the_stage(part)
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert held == []


def _of_the_stage(thing: object) -> bool:
    """An array (held by the garbage: arrays are not the collector's), or a frame or function
    of the quality code."""
    if isinstance(thing, (np.ndarray, pa.Array, pa.ChunkedArray)):
        return True
    code = getattr(thing, "f_code", None) or getattr(thing, "__code__", None)
    return code is not None and "/filters/" in code.co_filename


UNICODE_BLOCKS = [
    (0x20, 0x7E),  # ASCII
    (0xA0, 0x24F),  # Latin-1 and Latin Extended
    (0x300, 0x36F),  # combining marks
    (0x590, 0x6FF),  # Hebrew and Arabic (right to left)
    (0x900, 0x97F),  # Devanagari
    (0x3040, 0x30FF),  # Hiragana and Katakana
    (0x4E00, 0x4FFF),  # CJK ideographs
    (0xAC00, 0xACFF),  # Hangul
    (0x1F300, 0x1F5FF),  # emoji
    (0x2000, 0x206F),  # general punctuation, zero-width and direction marks
]
BREAKS = ["\n", "\n\n", " ", "\t", "\r\n", "\u2028", "\x0b", "\x85", "。", ".", "{", "…"]


def random_text(rng) -> str:
    pieces = []
    for _ in range(rng.randint(0, 300)):
        if rng.random() < 0.15:
            pieces.append(rng.choice(BREAKS))
        else:
            low, high = rng.choice(UNICODE_BLOCKS)
            pieces.append(chr(rng.randint(low, high)))
    return "".join(pieces)


@pytest.mark.parametrize(
    "families", [{}, {"c4": {}}, {"gopher_quality": {}}, {"gopher_repetition": {}}, {"fineweb": {}}]
)
def test_the_rules_never_raise_on_any_text(families):
    """Random Unicode (CJK, right-to-left, combining marks, controls, empty lines), in
    batches of one to eight, in languages with and without spaCy rules."""
    import random

    rng = random.Random(len(str(families)))
    stage = Quality(Quality.Params.model_validate(alone(families)))
    for _ in range(40):
        size = rng.randint(1, 8)
        texts = [random_text(rng) for _ in range(size)]
        texts[0] = rng.choice([texts[0], "", "\n\n", "no end punctuation at all"])
        languages = [
            rng.choice(
                ["en", "de", "zh", "ja", "ko", "vi", "km", "lo", "my", "ar", "he", "ru", None]
            )
            for _ in texts
        ]
        table = pa.table({"text": texts, "language": pa.array(languages, pa.string())})
        verdict = stage.process(table)
        assert verdict.table.num_rows == size == len(verdict.removed)
