import socket

import pyarrow as pa
import pytest

from filters.pii import Pii
from filters.pii_candidates import windows
from filters.wikitext import paragraphs
from pipeline.schema import ConfigError
from support.pii_cases import caught, labelled_cases, recall_by_type, typed_correctly
from tests.conftest import funnel, job, read_documents, run


def scrub(texts: list[str | None], **params):
    table = pa.table(
        {"id": [str(n) for n in range(len(texts))], "text": pa.array(texts, pa.string())}
    )
    return Pii(Pii.Params(**params)).process(table)


def long_paragraphs(path) -> list[str]:
    return [paragraph for paragraph in paragraphs(path) if len(paragraph) >= 200]


def test_labelled_set_recall_per_type_and_clean_documents_left_alone(corpora):
    injected_into = long_paragraphs(corpora / "text" / "wikitext-2-valid.txt")
    clean = long_paragraphs(corpora / "text" / "wikitext-2-test.txt")[:1000]
    cases = labelled_cases(injected_into, per_type=100)
    scrubbed = scrub([case.text for case in cases]).table.column("text").to_pylist()
    recall = recall_by_type(cases, scrubbed)
    mistyped = [
        (c.entity, c.value)
        for c, s in zip(cases, scrubbed, strict=True)
        if caught(c, s) and not typed_correctly(c, s)
    ]
    missed = [(c.entity, c.value) for c, s in zip(cases, scrubbed, strict=True) if not caught(c, s)]
    after = scrub(clean).table.column("text").to_pylist()
    altered = [(before, text) for before, text in zip(clean, after, strict=True) if before != text]
    print(f"\nrecall per type: {recall}")
    print(f"missed: {missed}\nreplaced under another type: {mistyped}")
    print(f"clean documents altered: {len(altered)}/{len(clean)}")
    for before, text in altered:
        print(f"  false positive: {sorted(set(before.split()) - set(text.split()))}")
    assert all(value >= 0.98 for value in recall.values()), recall
    assert len(altered) <= 0.01 * len(clean)


def test_presidio_decides_what_a_candidate_is():
    luhn_ok, luhn_bad = "4111 1111 1111 1111", "4111 1111 1111 1112"
    iban_ok, iban_bad = "DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 01"
    texts = [
        f"Paid with card {luhn_ok} yesterday.",
        f"Paid with card {luhn_bad} yesterday.",
        f"Transfer to {iban_ok} please.",
        f"Transfer to {iban_bad} please.",
        "Mail bob@example.com or bob@localhost now.",
    ]
    out = scrub(texts).table.column("text").to_pylist()
    assert out[0] == "Paid with card <CREDIT_CARD> yesterday."
    assert out[1] == texts[1]  # the pattern matches, Luhn fails: presidio keeps it
    assert out[2] == "Transfer to <IBAN_CODE> please."
    assert out[3] == texts[3]  # mod-97 checksum fails
    assert out[4] == "Mail <EMAIL_ADDRESS> or bob@localhost now."  # no public suffix


def test_documents_without_candidates_never_reach_presidio():
    plain = pa.array(["No digits, no at-sign, nothing to see.", None, "Year 1998 and 2004."])
    assert windows(plain, list(Pii.Params().entities)) == []
    found = windows(
        pa.array(["x " * 200 + "write to ann@example.org " + "y " * 200]), ["EMAIL_ADDRESS"]
    )
    [window] = found
    assert window.entities == {"EMAIL_ADDRESS"} and window.end - window.start < 200


def test_phone_screen_skips_only_regions_whose_matcher_finds_nothing():
    """Every region the phone screen leaves out of a text is one where presidio's own
    PhoneRecognizer, run for that region alone, finds nothing in it."""
    from faker import Faker
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from filters import phone_screen

    regions = phone_screen.load(("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"))
    texts = [
        "Am 12. 03. 2020 um 9:30, 2019-12-09 bis 09.12.2019 (S. 211-227 (2003)).",
        "Preis 1.000.000 EUR, ISBN 978-3-16-148410-0, Bestellnr. 4711 0815 2019 2021.",
        "Fax 0049 (0)30 226 343-0 or 011 44 20 7946 0958, ext. 12, or 1-800-SIX-FLAGS.",
    ]
    for locale in ("en_US", "en_GB", "de_DE", "fr_FR", "he_IL", "en_IN", "pt_BR", "it_IT"):
        fake = Faker(locale)
        fake.seed_instance(0)
        texts += [f"Call {fake.phone_number()} or {fake.date()} today." for _ in range(25)]
    skipped = 0
    for text in texts:
        possible = phone_screen.possible_regions(text, regions)
        for region in set(regions) - possible:
            skipped += 1
            found = PhoneRecognizer(supported_regions=(region,)).analyze(text, ["PHONE_NUMBER"])
            assert not found, (region, text, found)
    assert skipped > len(texts) * 2  # the screen does skip most regions


def test_an_unknown_phone_region_is_a_config_error_naming_it(tmp_path):
    """`UK` (GB's usual slip) passed validation, then failed every shard."""
    inputs = [{"source": "s", "format": "jsonl", "paths": [str(tmp_path / "x.jsonl")]}]
    stages = [{"pii": {"phone_regions": ["US", "UK", "XX"]}}]
    with pytest.raises(ConfigError) as raised:
        job(tmp_path / "out", inputs, stages)
    assert str(raised.value) == (
        "<config>: stages.pii.phone_regions: UK, XX: not a region phonenumbers knows; regions are "
        "ISO 3166-1 codes such as US, GB, DE (the United Kingdom's is GB)"
    )


def test_counts_annotation_and_policies():
    texts = [
        "Call +44 20 7946 0958 or mail ann@example.org.",
        "Again: ann@example.org, and bob@example.net.",
        "Nothing personal here.",
        None,
    ]
    verdict = scrub(texts, policy={"EMAIL_ADDRESS": "fake"})
    out = verdict.table.column("text").to_pylist()
    assert out[0].startswith("Call <PHONE_NUMBER> or mail ") and "ann@example.org" not in out[0]
    fake = out[0].removeprefix("Call <PHONE_NUMBER> or mail ").removesuffix(".")
    assert "@" in fake and out[1].startswith(f"Again: {fake}, and ")  # the same fake each time
    assert verdict.table.column("pii_count").to_pylist() == [2, 2, 0, None]
    assert verdict.counters == {"entity.PHONE_NUMBER": 1, "entity.EMAIL_ADDRESS": 3}
    assert verdict.removed.to_pylist() == [None] * 4

    dense = scrub(texts, policy={"EMAIL_ADDRESS": "drop"}, max_density=30)
    assert dense.removed.to_pylist() == [None, "pii_density", None, None]
    assert (
        "bob@example.net" not in dense.table.column("text")[1].as_py()
    )  # removed docs are scrubbed too


def test_named_entities_need_an_installed_model(caplog):
    verdict = scrub(["Mail ann@example.org."], entities=["EMAIL_ADDRESS", "PERSON"])
    assert verdict.table.column("text")[0].as_py() == "Mail <EMAIL_ADDRESS>."
    assert "no spaCy model named" in caplog.text
    with pytest.raises(ValueError, match="not installed"):
        scrub(["x"], entities=["PERSON"], spacy_model="xx_no_such_model")


def test_presidio_never_touches_the_network(monkeypatch):
    from filters import presidio_engine

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    presidio_engine.offline_tld_extract.cache_clear()
    engine = presidio_engine.analyzer_engine(["EMAIL_ADDRESS", "PHONE_NUMBER"], ["FR"])
    results = engine.analyze("Écrire à marie@exemple.fr ou 01 42 68 53 00.", language="en")
    assert sorted(r.entity_type for r in results) == ["EMAIL_ADDRESS", "PHONE_NUMBER"]


def test_pii_stage_in_a_run_reports_entities(local_ray, tmp_path):
    from tests.conftest import SAMPLE

    config = job(
        tmp_path,
        [{"source": "web", "format": "warc", "paths": [str(SAMPLE / "web-000.warc.gz")]}],
        stages=[{"extract": {}}, {"pii": {}}],
    )
    summary = run(config)
    counters = funnel(summary)["pii"]["counters"]
    assert counters.get("entity.EMAIL_ADDRESS", 0) > 0
    documents = read_documents(tmp_path)
    assert sum(doc["pii_count"] for doc in documents) == sum(counters.values())
    assert not any("@example" in doc["text"] for doc in documents)


def test_indexed_context_enhancer_finds_presidio_s_token():
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    from filters.presidio_engine import IndexedContextEnhancer, WordNlpEngine

    text = "  Call me: +44 20 7946 0958 , or mail bob@example.org\t(home)!  "
    artifacts = WordNlpEngine().process_text(text, "en")
    tokens, starts = artifacts.tokens, artifacts.tokens_indices
    for start in range(len(text) + 1):
        try:
            expected = LemmaContextAwareEnhancer._find_index_of_match_token(
                "w", start, tokens, starts
            )
        except ValueError:
            expected = None
        try:
            got = IndexedContextEnhancer._find_index_of_match_token("w", start, tokens, starts)
        except ValueError:
            got = None
        assert got == expected, start
