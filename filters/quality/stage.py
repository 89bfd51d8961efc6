"""The `quality` stage: the published heuristic rule families, over shared signals.

Families run in FineWeb's order (Gopher repetition, Gopher quality, C4, FineWeb) and then
the blocklist; each judges the documents the ones before it kept, and a removed document's
reason is the rule that removed it (`gopher_quality.min_doc_words`, `c4.curly_bracket`,
...). C4 rewrites the text of the documents it keeps (its line-level rules), so FineWeb and
the blocklist see that text, as in datatrove's pipeline; the lines it removed are counted
as `lines_removed.c4_<rule>`. Words are split as datatrove splits them (spaCy's rules for
the document's `language` when the language stage ran before, English otherwise).

`quality: {}` runs the four published families with their published thresholds. Settings
merge with those defaults: `gopher_quality: {min_alpha_words_ratio: 0.7}` changes one
threshold and keeps every family on; a family is turned off by name (`c4: false`), and the
blocklist, which needs lists, runs when it is given some. A document that alone runs past
`timeout` is errored `quality_timeout`.

Those settings are English's rules. A document in another language gets that language's
rules (`languages.py`: FineWeb-2's published thresholds and stop words, over words split
as datatrove splits that language: spaCy's rules, or its own segmenter, `segmenters.py`)
unless `per_language: false`, which judges every document as English, as datatrove's
filters do by default; `languages: {de: {gopher_quality: {min_stop_words: 3}}}` changes
German's. A family turned off by name is off for every language.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, field_validator, model_validator

from filters.quality.blocklist import Blocklist
from filters.quality.c4 import C4
from filters.quality.family import Family, FamilyParams
from filters.quality.fineweb import FineWeb
from filters.quality.gopher_quality import GopherQuality
from filters.quality.gopher_repetition import GopherRepetition
from filters.quality.languages import ENGLISH, published
from filters.quality.segmenters import WholeTextSplitter, word_splitter
from filters.quality.signals import Signals
from filters.quality.text import sentence_punctuation
from filters.quality.words import WordSplitter, spacy_tokenizer
from pipeline.schema import StrictModel
from pipeline.stage import Stage, TimeBudget, Verdict

FAMILIES: tuple[type[Family], ...] = (GopherRepetition, GopherQuality, C4, FineWeb, Blocklist)
PUBLISHED = ("gopher_repetition", "gopher_quality", "c4", "fineweb")
MAX_LEARNED = 2_000_000
"""Distinct chunks and tokens the stage's word splitters keep between them (a few hundred
bytes each); past it they all forget, so that the memory of a process the stage lives in
(a sandbox outlives its shards) stays bounded whatever the languages."""


class LanguageRules(StrictModel):
    """One language's rules: each family `true` (the language's own: FineWeb-2's, or for
    English the stage's settings), `false` (off), or a mapping of the settings to change."""

    _given: dict[str, Any] = PrivateAttr(default_factory=dict)

    gopher_repetition: GopherRepetition.Params | bool = True
    """Gopher's repetition rules for this language."""
    gopher_quality: GopherQuality.Params | bool = True
    """Gopher's quality rules for this language (`stop_words` and `min_stop_words` among them)."""
    c4: C4.Params | bool = True
    """C4's rules for this language; FineWeb-2 runs none but for English, so `true` or a
    mapping turns them on (at C4's published thresholds) in another language."""
    fineweb: FineWeb.Params | bool = True
    """FineWeb's line rules for this language."""

    def changes(self, family: str) -> dict[str, Any]:
        """The settings this language's config sets for `family`: for the n-gram thresholds
        only the sizes it names (validation fills in the others with English's)."""
        chosen = getattr(self, family, True)
        if chosen is True:
            return {}
        given = chosen.model_fields_set
        named = self._given.get(family, {})
        return {
            key: {int(n): value.get(int(n)) for n in named[key]}
            if isinstance(value, dict)
            else value
            for key, value in chosen.model_dump(include=given).items()
        }

    @model_validator(mode="wrap")
    @classmethod
    def _remember_given(cls, data: Any, handler) -> LanguageRules:
        """Keep what the config wrote (which n-gram sizes it names) beside the validated model."""
        rules = handler(data)
        rules._given = data if isinstance(data, dict) else {}
        return rules


class Quality(Stage):
    """Removes documents the Gopher, C4 and FineWeb rules (and any blocklists) reject."""

    name = "quality"
    group_by = "language"

    class Params(TimeBudget):
        gopher_repetition: GopherRepetition.Params | None = Field(
            default_factory=GopherRepetition.Params
        )
        """Gopher's repetition rules (MassiveText): repeated lines, paragraphs and n-grams.
        Each family takes `false` (off), `true` or `{}` (published thresholds), or a mapping
        of the thresholds to change; a threshold set to `null` turns that rule off."""
        gopher_quality: GopherQuality.Params | None = Field(default_factory=GopherQuality.Params)
        """Gopher's quality rules (MassiveText): word counts and lengths, symbols, stop words."""
        c4: C4.Params | None = Field(default_factory=C4.Params)
        """C4's line and document rules."""
        fineweb: FineWeb.Params | None = Field(default_factory=FineWeb.Params)
        """FineWeb's line rules: punctuation, short lines, duplicated lines, newlines."""
        blocklist: Blocklist.Params | None = None
        """Domain and bad-word lists; off unless given."""
        per_language: bool = True
        """Each document gets its `language`'s rules: FineWeb-2's published thresholds and
        stop words, or for a language FineWeb-2 has no config for the median of its published
        thresholds and spaCy's stop words (filters/quality/languages.py); the settings above
        are English's. `false`: every document judged as English is (the settings above, words
        split by English rules), as datatrove's filters judge by default."""
        languages: dict[str, LanguageRules] = Field(default_factory=dict)
        """Per language (as the language stage labels it: `de`, `zh`, GlotLID's `nso_Latn`),
        the rules to change from that language's own: `{de: {gopher_quality: {min_stop_words:
        3}, c4: false}}`."""

        @field_validator(*(family.name for family in FAMILIES), mode="before")
        @classmethod
        def _switch(cls, value: Any) -> Any:
            """`false` turns a family off; `true` runs it with its published thresholds."""
            if value is True:
                return {}
            if value is False:
                return None
            return value

        @model_validator(mode="after")
        def _some_family_on(self) -> Quality.Params:
            if all(getattr(self, family.name) is None for family in FAMILIES):
                raise ValueError(
                    "every rule family is off, so every document would be kept: turn one on "
                    "or leave the stage out"
                )
            return self

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._families: dict[str, list[Family]] = {}
        self._splitters: dict[str, WordSplitter | WholeTextSplitter] = {}

    def families(self, language: str) -> list[Family]:
        """The families that judge documents in `language`, with that language's settings."""
        if language not in self._families:
            self._families[language] = [
                family(settings)
                for family in FAMILIES
                if (settings := self._settings(family, language)) is not None
            ]
        return self._families[language]

    def _settings(self, family: type[Family], language: str) -> FamilyParams | None:
        """`family`'s Params for `language`, or None where it does not run there."""
        stage = getattr(self.params, family.name)
        if stage is None:
            return None
        rules = self.params.languages.get(language, LanguageRules())
        chosen = getattr(rules, family.name, True)
        if chosen is False:
            return None
        changes = rules.changes(family.name)
        if language == ENGLISH or family is Blocklist:
            if not changes:
                return stage
            base = stage.model_dump()
        else:
            base = published(language)[family.name]
            if base is None and chosen is True:
                return None
        settings = dict(base or {})
        for key, value in changes.items():  # n-gram sizes not named keep the language's
            settings[key] = {**settings.get(key, {}), **value} if isinstance(value, dict) else value
        return family.Params.model_validate(settings)

    def load(self) -> None:
        """spaCy's English word rules (other languages load when their first document comes),
        and C4's sentence punctuation."""
        spacy_tokenizer("en")
        sentence_punctuation()

    def load_for(self, table: pa.Table) -> None:
        """Each language's rules and word splitting (spaCy's rules, a segmenter's model:
        up to seconds each), for the languages of `table`'s documents not met before."""
        for language, _ in self._by_language(table):
            if language not in self._splitters:
                self.families(language)
                self._splitter(language).load()

    def process(self, table: pa.Table) -> Verdict:
        if sum(splitter.learned for splitter in self._splitters.values()) > MAX_LEARNED:
            for splitter in self._splitters.values():
                splitter.forget()
        texts = pc.fill_null(table.column("text"), "").combine_chunks()
        urls = table.column("url").combine_chunks() if "url" in table.column_names else None
        reasons = np.full(table.num_rows, None, dtype=object)
        details = np.full(table.num_rows, None, dtype=object)
        counters: dict[str, int] = {}
        for language, rows in self._by_language(table):
            text, reasons[rows], details[rows] = self._judge(
                texts.take(rows), urls.take(rows) if urls else None, language, counters
            )
            texts = _put(texts, rows, text)
        table = table.set_column(table.column_names.index("text"), "text", texts)
        return Verdict(
            table,
            removed=pa.array(reasons, pa.string()),
            details=pa.array(details, pa.string()),
            counters=counters,
        )

    def _splitter(self, language: str) -> WordSplitter | WholeTextSplitter:
        if language not in self._splitters:
            self._splitters[language] = word_splitter(language)
        return self._splitters[language]

    def _judge(self, texts, urls, language, counters):
        splitter = self._splitter(language)
        reasons = np.full(len(texts), None, dtype=object)
        details = np.full(len(texts), None, dtype=object)
        alive = np.arange(len(texts))
        words = None  # of the alive texts, once a family has split them
        for family in self.families(language):
            if len(alive) == 0:
                break
            signals = Signals(
                texts.take(alive), splitter, urls.take(alive) if urls else None, words
            )
            judgement = family.judge(signals)
            for key, value in judgement.counters.items():
                counters[key] = counters.get(key, 0) + value
            removed = judgement.reasons != None  # noqa: E711
            reasons[alive[removed]] = judgement.reasons[removed]
            if judgement.details is not None:
                details[alive[removed]] = judgement.details[removed]
            if judgement.texts is not None:
                texts = _put(texts, alive[~removed], judgement.texts.filter(pa.array(~removed)))
            words = judgement.words if judgement.texts is not None else signals.known_words()
            words = words.take(np.flatnonzero(~removed)) if words is not None else None
            alive = alive[~removed]
        return texts, reasons, details

    def _by_language(self, table: pa.Table):
        """Row indices per language: the `language` column where present (and rules are per
        language), English otherwise."""
        if "language" not in table.column_names or not self.params.per_language:
            yield ENGLISH, np.arange(table.num_rows)
            return
        languages = pc.fill_null(table.column("language"), ENGLISH)
        languages = languages.to_numpy(zero_copy_only=False)
        for language in np.unique(languages):
            yield str(language), np.flatnonzero(languages == language)


def _put(target: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """`target` with `target[rows] = values` (`rows` ascending)."""
    mask = np.zeros(len(target), bool)
    mask[rows] = True
    return pc.replace_with_mask(target, pa.array(mask), values)
