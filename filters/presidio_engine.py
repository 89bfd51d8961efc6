"""A presidio AnalyzerEngine that never touches the network and needs no model download.

presidio's defaults reach out twice: `SpacyNlpEngine.load` downloads a missing spaCy model,
and `EmailRecognizer` validates domains with `tldextract.extract`, which fetches the public
suffix list. Here the NLP engine is a blank spaCy pipeline (tokens only) unless the user
names an installed model, and e-mail domains are checked against tldextract's bundled
snapshot. The recognizers are presidio's own pattern/checksum recognizers plus an Ethereum
address recognizer presidio lacks.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Sequence
from functools import cache
from typing import ClassVar

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine, SpacyNlpEngine
from presidio_analyzer.pattern_recognizer import PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
)
from spacy.attrs import IDX, IS_PUNCT, IS_STOP, LENGTH, LOWER
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.tokens import Doc

from filters.pii_entities import NER_ENTITIES

log = logging.getLogger(__name__)

LANGUAGE = "en"
"""presidio's language key; the pattern recognizers are language-neutral."""


@cache
def offline_tld_extract() -> tldextract.TLDExtract:
    """tldextract on its bundled public-suffix snapshot: no fetch, no cache directory."""
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer, its domain check run on the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return offline_tld_extract()(pattern_text).fqdn != ""


class CardRecognizer(CreditCardRecognizer):
    """presidio's card recognizer (Luhn-checked) plus Mastercard's 2-series (2221-2720),
    issued since 2017, which presidio's pattern does not cover."""

    PATTERNS: ClassVar[list[Pattern]] = [
        *CreditCardRecognizer.PATTERNS,
        Pattern(
            "Mastercard 2-series",
            r"\b2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720)[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b",
            0.3,
        ),
    ]

    def __init__(self) -> None:
        super().__init__(patterns=self.PATTERNS)


class EthereumRecognizer(PatternRecognizer):
    """Ethereum account addresses (`0x` + 40 hex digits) as CRYPTO; presidio finds only Bitcoin.

    Mixed-case EIP-55 checksums need Keccak-256, which the standard library lacks, so the
    pattern alone decides; 40 hex digits after `0x` are rarely anything else.
    """

    PATTERNS: ClassVar[list[Pattern]] = [Pattern("Ethereum address", r"\b0x[0-9a-fA-F]{40}\b", 0.5)]
    CONTEXT: ClassVar[list[str]] = ["wallet", "eth", "ethereum", "crypto"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="CRYPTO",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=LANGUAGE,
            name="EthereumRecognizer",
        )


class IndexedContextEnhancer(LemmaContextAwareEnhancer):
    """presidio's context enhancer, finding each match's token by bisection.

    presidio scans the tokens from the first for every match, so the context step grows
    with the square of the text analysed; the answer (the first token that starts at the
    match or ends after its start) is the same for sorted, non-overlapping tokens.
    """

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens, tokens_indices) -> int:
        index = max(bisect.bisect_right(tokens_indices, start) - 1, 0)
        if index < len(tokens) and tokens_indices[index] + len(tokens[index]) <= start:
            index += 1  # `start` lies between two tokens
        if index >= len(tokens):
            raise ValueError(f"Did not find word {word!r} in the list of tokens")
        return index


class WordNlpEngine(NlpEngine):
    """presidio's NLP step as a regular expression: words and punctuation marks as tokens,
    lowercased words as lemmas, spaCy's English stop words left out of the context keywords.

    The pattern recognizers need tokens only for context words; a spaCy pipeline, even a
    blank one, costs more than all of them on the short windows the stage analyses.
    """

    TOKEN = re.compile(r"\w+|[^\w\s]")

    def load(self) -> None:
        """Nothing to load: the tokenizer is the regular expression above."""

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        matches = list(self.TOKEN.finditer(text))
        tokens = [match[0] for match in matches]
        lemmas = [token.lower() for token in tokens]
        artifacts = NlpArtifacts([], [], [], [], None, language)
        artifacts.tokens = tokens
        artifacts.tokens_indices = [match.start() for match in matches]
        artifacts.lemmas = lemmas
        artifacts.nlp_engine = self
        artifacts.keywords = {
            lemma for lemma in set(lemmas) - STOP_WORDS if lemma[0].isalnum() or lemma == "_"
        }
        return artifacts

    def process_batch(self, texts, language, batch_size=1, n_process=1, as_tuples=False):
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in STOP_WORDS

    def is_punct(self, word: str, language: str) -> bool:
        return len(word) == 1 and not word.isalnum() and not word.isspace()

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return [LANGUAGE]


class LocalSpacyNlpEngine(SpacyNlpEngine):
    """spaCy for presidio without downloads: a blank pipeline, or a model already installed.

    Blank pipelines have no lemmatizer, so lowercased tokens stand in for lemmas and
    presidio's context words ("phone", "ssn", ...) still raise scores. The keywords become
    a set: presidio tests membership in them once per context word, quadratic on a list.
    """

    def __init__(self, model: str | None) -> None:
        super().__init__(models=[{"lang_code": LANGUAGE, "model_name": model or "blank"}])
        self.model = model

    def load(self) -> None:
        if self.model is None:
            self.nlp = {LANGUAGE: spacy.blank(LANGUAGE)}
            return
        if not spacy.util.is_package(self.model):
            raise ValueError(
                f"pii.spacy_model: spaCy model {self.model!r} is not installed "
                f"(install it, e.g. `pip install {self.model}`; nothing is downloaded for you)"
            )
        self.nlp = {LANGUAGE: spacy.load(self.model, disable=["parser", "lemmatizer"])}

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        if self.model is not None:
            artifacts = super()._doc_to_nlp_artifact(doc, language)
            artifacts.keywords = set(artifacts.keywords)
            return artifacts
        return self._blank_artifacts(doc, language)

    def _blank_artifacts(self, doc: Doc, language: str) -> NlpArtifacts:
        """Tokens as plain strings, read in one array: a spaCy Token object per token per
        match (how presidio walks them) costs more than the recognizers themselves."""
        columns = doc.to_array([IDX, LENGTH, LOWER, IS_STOP, IS_PUNCT]).tolist()
        strings, text = doc.vocab.strings, doc.text
        lemmas = [strings[lower] for _, _, lower, _, _ in columns]
        artifacts = NlpArtifacts([], [], [], [], None, language)
        artifacts.tokens = [text[idx : idx + length] for idx, length, _, _, _ in columns]
        artifacts.tokens_indices = [idx for idx, *_ in columns]
        artifacts.lemmas = lemmas
        artifacts.nlp_engine = self
        artifacts.keywords = {
            part
            for lemma, (*_, stop, punct) in zip(lemmas, columns, strict=True)
            if not stop and not punct
            for part in lemma.split(":")
        }
        return artifacts


def recognizers(entities: Sequence[str], phone_regions: Sequence[str]) -> list[EntityRecognizer]:
    """presidio's recognizers for the pattern entities asked for, nothing else."""
    available: dict[str, list[EntityRecognizer]] = {
        "EMAIL_ADDRESS": [OfflineEmailRecognizer()],
        "PHONE_NUMBER": [PhoneRecognizer(supported_regions=tuple(phone_regions))],
        "IP_ADDRESS": [IpRecognizer()],
        "CREDIT_CARD": [CardRecognizer()],
        "US_SSN": [UsSsnRecognizer()],
        "IBAN_CODE": [IbanRecognizer()],
        "CRYPTO": [CryptoRecognizer(), EthereumRecognizer()],
    }
    return [r for entity in entities if entity in available for r in available[entity]]


@cache
def nlp_engine(spacy_model: str | None, blank_spacy: bool) -> NlpEngine:
    """One loaded NLP engine per process and kind, shared by every analyzer using it."""
    use_spacy = spacy_model is not None or blank_spacy
    engine = LocalSpacyNlpEngine(spacy_model) if use_spacy else WordNlpEngine()
    engine.load()
    return engine


def analyzer_engine(
    entities: Sequence[str],
    phone_regions: Sequence[str],
    spacy_model: str | None = None,
    score_threshold: float = 0.4,
    blank_spacy: bool = False,
) -> AnalyzerEngine:
    """An AnalyzerEngine restricted to `entities`, offline, with an optional NER model.

    Tokens come from the named spaCy model, else from `WordNlpEngine`, and context from
    `IndexedContextEnhancer`. With `blank_spacy`: a blank spaCy pipeline and presidio's own
    enhancer, presidio as it comes (the baseline `benchmarks/pii.py` measures).
    """
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in recognizers(entities, phone_regions):
        registry.add_recognizer(recognizer)
    ner = [entity for entity in entities if entity in NER_ENTITIES]
    if ner and spacy_model is not None:
        registry.add_recognizer(SpacyRecognizer(supported_entities=ner))
    elif ner:
        log.warning(
            "pii: no spaCy model named (pii.spacy_model), so %s are not detected; "
            "the pattern entities are",
            ", ".join(ner),
        )
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine(spacy_model, blank_spacy),
        context_aware_enhancer=None if blank_spacy else IndexedContextEnhancer(),
        supported_languages=[LANGUAGE],
        default_score_threshold=score_threshold,
    )
