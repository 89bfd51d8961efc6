"""The `pii` stage: find personal data with presidio and replace it, at web speed.

What it removes and why: e-mail addresses, phone numbers, IP addresses, card numbers,
US social security numbers, IBANs and crypto wallets must not be learned by a model.
presidio's recognizers decide (regex + checksum: Luhn for cards, mod-97 for IBANs,
base58/bech32 for Bitcoin, phonenumbers' validation per region); `pii_candidates` only
chooses which short windows of which documents they look at. PERSON and LOCATION need a
spaCy NER model the user installed and named in `spacy_model`.

Each entity type has a policy: `placeholder` (`<EMAIL_ADDRESS>`, the default), `fake`
(a Faker value derived from the original, so the same address becomes the same fake
everywhere), or `drop`: replaced by its placeholder, and the document is removed as
`pii_density` when such entities exceed `max_density` per 1,000 characters. Annotates
`pii_count` (entities replaced); counts `entity.<TYPE>` in the report. Errors
`pii_timeout` (a document that alone ran past `timeout`).
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from functools import cache
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
from phonenumbers import SUPPORTED_REGIONS
from pydantic import Field, field_validator, model_validator

from filters import phone_screen
from filters.pii_candidates import Window, windows
from filters.pii_entities import NER_ENTITIES, PATTERN_ENTITIES
from filters.torch_hidden import torch_hidden
from pipeline.stage import Stage, TimeBudget, Verdict

if TYPE_CHECKING:  # presidio (spaCy, torch) loads only where the stage runs
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
    from presidio_anonymizer.entities import OperatorConfig

Entity = Literal[PATTERN_ENTITIES + NER_ENTITIES]
Policy = Literal["placeholder", "fake", "drop"]

SEPARATOR = "\n\n\n"
"""Between windows analysed in one presidio call; no recognizer matches across it."""
CHUNK_CHARS = 8_000
"""Text handed to presidio per call: long enough to spread its per-call cost over many
windows, short enough for its context enhancer (which scans all tokens per match)."""

FAKES: dict[str, Callable] = {
    "EMAIL_ADDRESS": lambda fake: fake.email(),
    "PHONE_NUMBER": lambda fake: fake.phone_number(),
    "IP_ADDRESS": lambda fake: fake.ipv4(),
    "CREDIT_CARD": lambda fake: fake.credit_card_number(),
    "US_SSN": lambda fake: fake.ssn(),
    "IBAN_CODE": lambda fake: fake.iban(),
    "CRYPTO": lambda fake: "0x" + fake.sha1(),
    "PERSON": lambda fake: fake.name(),
    "LOCATION": lambda fake: fake.city(),
}


class Pii(Stage):
    """Replaces personal data presidio finds; drops documents dense with `drop` entities."""

    name = "pii"
    fields = (pa.field("pii_count", pa.int32()),)

    class Params(TimeBudget):
        entities: list[Entity] = Field(default_factory=lambda: list(PATTERN_ENTITIES))
        """What to find; PERSON and LOCATION need `spacy_model`."""
        phone_regions: list[str] = Field(default_factory=lambda: ["US", "GB", "DE", "FR"])
        """Regions whose national formats phonenumbers accepts (international +NN always)."""
        policy: dict[Entity, Policy] = Field(default_factory=dict)
        """Per entity; unlisted entities get `placeholder`."""
        max_density: float = Field(default=1.0, gt=0)
        """`drop` entities per 1,000 characters above which a document is removed."""
        score_threshold: float = Field(default=0.4, ge=0, le=1)
        """presidio's confidence below which a match is ignored (weak SSN-like 9-digit
        runs score 0.05, phone numbers 0.4, checksummed values 1.0)."""
        spacy_model: str | None = None
        """An installed spaCy model for PERSON/LOCATION (e.g. en_core_web_sm); never downloaded."""

        @field_validator("phone_regions")
        @classmethod
        def _known_regions(cls, regions: list[str]) -> list[str]:
            unknown = [region for region in regions if region not in SUPPORTED_REGIONS]
            if unknown:
                hint = " (the United Kingdom's is GB)" if "UK" in unknown else ""
                raise ValueError(
                    f"{', '.join(unknown)}: not a region phonenumbers knows; regions are "
                    f"ISO 3166-1 codes such as US, GB, DE{hint}"
                )
            return regions

        @model_validator(mode="after")
        def _known_entities(self) -> Pii.Params:
            unknown = sorted(set(self.policy) - set(self.entities))
            if unknown:
                raise ValueError(f"policy: {', '.join(unknown)} not in entities")
            if not self.entities:
                raise ValueError("entities: name at least one")
            return self

    def __init__(self, params: Params) -> None:
        # presidio_anonymizer imports presidio_analyzer, which imports spaCy. A named spaCy
        # model may be a torch one (en_core_web_trf), which needs thinc to see torch.
        with torch_hidden() if params.spacy_model is None else nullcontext():
            from presidio_anonymizer import AnonymizerEngine

        super().__init__(params)
        self.analyzer = _analyzer(
            tuple(params.entities),
            tuple(params.phone_regions),
            params.spacy_model,
            params.score_threshold,
        )
        self.anonymizer = AnonymizerEngine()
        self.operators = {
            entity: _operator(entity, params.policy.get(entity, "placeholder"))
            for entity in params.entities
        }
        self.dropping = {e for e, p in params.policy.items() if p == "drop"}
        self.phone_regions = phone_screen.load(params.phone_regions)

    def process(self, table: pa.Table) -> Verdict:
        new_texts = table.column("text").to_pylist()
        found = self.find(table.column("text"), new_texts)
        counts: list[int | None] = [None if t is None else 0 for t in new_texts]
        removed: list[str | None] = [None] * table.num_rows
        counters: Counter[str] = Counter()
        for row, results in found.items():
            anonymized = self.anonymizer.anonymize(new_texts[row], results, self.operators)
            types = [item.entity_type for item in anonymized.items]
            counters.update(f"entity.{entity}" for entity in types)
            dense = sum(entity in self.dropping for entity in types)
            if dense and dense * 1000 / len(new_texts[row]) > self.params.max_density:
                removed[row] = "pii_density"
            new_texts[row] = anonymized.text
            counts[row] = len(types)
        table = table.set_column(
            table.column_names.index("text"), "text", pa.array(new_texts, pa.string())
        )
        table = table.append_column("pii_count", pa.array(counts, pa.int32()))
        return Verdict(table, removed=pa.array(removed, pa.string()), counters=dict(counters))

    def find(
        self, column: pa.ChunkedArray, texts: list[str | None]
    ) -> dict[int, list[RecognizerResult]]:
        """presidio's results per document row (document offsets), only rows with any."""
        pattern_entities = [e for e in self.params.entities if e not in NER_ENTITIES]
        found: dict[int, list[RecognizerResult]] = defaultdict(list)
        groups: dict[tuple[frozenset[str], tuple[str, ...]], list[Window]] = defaultdict(list)
        for window in windows(column, pattern_entities):
            text = texts[window.row][window.start : window.end]
            entities, regions = self._recognizers_for(text, window.entities)
            if entities:
                groups[entities, regions].append(window)
        for (entities, regions), group in groups.items():
            analyzer = self._analyzer_for(regions)
            for row, result in self._analyze(analyzer, texts, group, sorted(entities)):
                found[row].append(result)
        if self.params.spacy_model is not None:
            self._add_ner(texts, found)
        return found

    def _recognizers_for(
        self, text: str, entities: frozenset[str]
    ) -> tuple[frozenset[str], tuple[str, ...]]:
        """The entities worth analysing `text` for, and the phone regions whose matchers
        could find a number in it (none: no phone analysis)."""
        if "PHONE_NUMBER" not in entities:
            return entities, ()
        possible = phone_screen.possible_regions(text, self.phone_regions)
        if not possible:
            return entities - {"PHONE_NUMBER"}, ()
        return entities, tuple(r for r in self.phone_regions if r in possible)

    def _analyzer_for(self, phone_regions: tuple[str, ...]) -> AnalyzerEngine:
        """The stage's engine with the phone recognizer restricted to `phone_regions`."""
        if not phone_regions:
            return self.analyzer
        params = self.params
        return _analyzer(
            tuple(params.entities), phone_regions, params.spacy_model, params.score_threshold
        )

    def _analyze(
        self,
        analyzer: AnalyzerEngine,
        texts: list[str | None],
        group: list[Window],
        entities: list[str],
    ) -> Iterable[tuple[int, RecognizerResult]]:
        """Analyse `group`'s windows joined into few presidio calls; map results back."""
        for chunk in _chunks(group):
            pieces = [texts[w.row][w.start : w.end] for w in chunk]
            offsets = [0]
            for piece in pieces:
                offsets.append(offsets[-1] + len(piece) + len(SEPARATOR))
            joined = SEPARATOR.join(pieces)
            for result in analyzer.analyze(joined, language="en", entities=entities):
                index = bisect.bisect_right(offsets, result.start) - 1
                window, base = chunk[index], offsets[index]
                if result.end - base > window.end - window.start:
                    continue  # spans a separator: not a value of either window
                result.start += window.start - base
                result.end += window.start - base
                yield window.row, result

    def _add_ner(self, texts: list[str | None], found: dict[int, list[RecognizerResult]]) -> None:
        """NER has no cheap pre-screen: the model reads every document."""
        ner = [e for e in self.params.entities if e in NER_ENTITIES]
        if not ner:
            return
        for row, text in enumerate(texts):
            if text:
                found[row].extend(self.analyzer.analyze(text, language="en", entities=ner))


def _chunks(group: list[Window]) -> Iterable[list[Window]]:
    chunk: list[Window] = []
    size = 0
    for window in group:
        if chunk and size + window.end - window.start > CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(window)
        size += window.end - window.start + len(SEPARATOR)
    if chunk:
        yield chunk


@cache
def _analyzer(
    entities: tuple[str, ...],
    phone_regions: tuple[str, ...],
    spacy_model: str | None,
    score_threshold: float,
) -> AnalyzerEngine:
    """One engine per configuration and process: building one loads spaCy."""
    from filters.presidio_engine import analyzer_engine

    return analyzer_engine(entities, phone_regions, spacy_model, score_threshold)


def _operator(entity: str, policy: Policy) -> OperatorConfig:
    from presidio_anonymizer.entities import OperatorConfig

    if policy == "fake":
        return OperatorConfig("custom", {"lambda": _consistent_fake(entity)})
    return OperatorConfig("replace", {"new_value": f"<{entity}>"})


def _consistent_fake(entity: str) -> Callable[[str], str]:
    """A fake value seeded by the original, so one address always gets the same fake."""
    from faker import Faker

    faker = Faker("en_US")
    make = FAKES[entity]

    def fake(value: str) -> str:
        faker.seed_instance(int.from_bytes(hashlib.blake2b(value.encode()).digest()[:8]))
        return make(faker)

    return fake
