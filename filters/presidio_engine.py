"""A presidio AnalyzerEngine that never touches the network and needs no model download.

presidio's defaults reach out twice: `SpacyNlpEngine.load` downloads a missing spaCy model,
and `EmailRecognizer` validates domains with `tldextract.extract`, which fetches the public
suffix list. Here the NLP engine is a blank spaCy pipeline (tokens only) unless the user
names an installed model, and e-mail domains are checked against tldextract's bundled
snapshot. The recognizers are presidio's own pattern/checksum recognizers plus an Ethereum
address recognizer presidio lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import ClassVar

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
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
from spacy.tokens import Doc

from filters.pii import NER_ENTITIES

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
        artifacts = super()._doc_to_nlp_artifact(doc, language)
        if self.model is None:
            artifacts.lemmas = [token.lower_ for token in doc]
        artifacts.keywords = set(artifacts.set_keywords(self, artifacts.lemmas, language))
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


def analyzer_engine(
    entities: Sequence[str],
    phone_regions: Sequence[str],
    spacy_model: str | None = None,
    score_threshold: float = 0.4,
) -> AnalyzerEngine:
    """An AnalyzerEngine restricted to `entities`, offline, with an optional NER model."""
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
    nlp_engine = LocalSpacyNlpEngine(spacy_model)
    nlp_engine.load()
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        default_score_threshold=score_threshold,
    )
