"""Blocklists: documents from listed domains, and documents heavy with listed bad words.

Off unless lists are given. `domains` (and `domains_file`, one per line) remove a document
whose URL host is a listed domain or a subdomain of one (`blocklist.domains`); `bad_words`
(and `bad_words_file`) remove a document when more than `max_bad_words_ratio` of its words,
lowercased, are listed (`blocklist.bad_words`; the default 0 removes on any one, as C4 did
with the LDNOOBW list).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from filters.quality.family import Family, FamilyParams, Judgement, exceeds, ratio
from filters.quality.signals import Signals
from pipeline.schema import RegularFile

MAX_DOMAIN_DEPTH = 8
HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(?P<host>[^/:?#]+)"


class Blocklist(Family):
    """URL-domain and bad-word rules over user-supplied lists."""

    name = "blocklist"

    class Params(FamilyParams):
        domains: list[str] = Field(default_factory=list)
        """Remove documents whose URL host is one of these domains or a subdomain of one."""
        domains_file: RegularFile | None = None
        """More `domains`, one per line."""
        bad_words: list[str] = Field(default_factory=list)
        """Words (matched lowercased) that count against a document."""
        bad_words_file: RegularFile | None = None
        """More `bad_words`, one per line."""
        max_bad_words_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
        """Most words that may be bad words, as a share; 0 removes a document on any one, as C4 did."""

        @model_validator(mode="after")
        def _files_read(self) -> Blocklist.Params:
            for path in (self.domains_file, self.bad_words_file):
                if path is not None:  # before the run, not in its first shard; decoded only
                    _text(path)
            if not (self.domains or self.domains_file or self.bad_words or self.bad_words_file):
                raise ValueError("no domains or bad words to block: give some, or leave it out")
            return self

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.domains = _entries(params.domains, params.domains_file)
        self.bad_words = _entries(params.bad_words, params.bad_words_file)

    def judge(self, signals: Signals) -> Judgement:
        size = len(signals)
        blocked = self._blocked_hosts(signals.urls) if self.domains else None
        bad = None
        if self.bad_words:
            present = np.unique(signals.words.ids)
            tokens = signals.words.vocabulary.tokens.take(pa.array(present)).to_pylist()
            listed = [
                i
                for i, token in zip(present, tokens, strict=True)
                if token.lower() in self.bad_words
            ]
            hits = np.bincount(
                signals.word_owner[np.isin(signals.words.ids, listed)], minlength=size
            )
            bad = exceeds(ratio(hits, signals.words.counts), self.params.max_bad_words_ratio)
        return self.first_failed([("domains", blocked), ("bad_words", bad)], size)

    def _blocked_hosts(self, urls: pa.Array) -> np.ndarray:
        host = pc.utf8_lower(pc.extract_regex(urls, HOST).field("host"))
        listed = pa.array(sorted(self.domains), pa.string())
        blocked = np.zeros(len(urls), bool)
        for _ in range(MAX_DOMAIN_DEPTH):
            blocked |= pc.fill_null(pc.is_in(host, value_set=listed), False).to_numpy(
                zero_copy_only=False
            )
            host = pc.extract_regex(host, r"^[^.]+\.(?P<parent>.+)$").field("parent")
        return blocked


def _entries(listed: list[str], path: str | None) -> frozenset[str]:
    lines = _text(path).splitlines() if path else []
    entries = (entry.strip().lower() for entry in [*listed, *lines])
    return frozenset(entry for entry in entries if entry and not entry.startswith("#"))


def _text(path: str) -> str:
    """A list file's text; ValueError naming it where it is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
