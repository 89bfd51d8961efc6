"""Blocklists: documents from listed domains, and documents heavy with listed bad words.

Off unless lists are given. `domains` (and `domains_file`, one per line) remove a document
whose URL host is a listed domain or a subdomain of one (`blocklist.domains`). A listed
domain may be written as a URL, `*.domain`, with a trailing dot, in Unicode (compared as its
punycode, as crawlers store hosts), or as a hosts-file line (`0.0.0.0 ads.example`); any
other entry is a config error naming it, not a rule that matches nothing. `bad_words`
(and `bad_words_file`) remove a document when more than `max_bad_words_ratio` of its words,
lowercased, are listed (`blocklist.bad_words`; the default 0 removes on any one, as C4 did
with the LDNOOBW list).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from functools import cache
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
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class Blocklist(Family):
    """URL-domain and bad-word rules over user-supplied lists."""

    name = "blocklist"

    class Params(FamilyParams):
        domains: list[str] = Field(default_factory=list)
        """Remove documents whose URL host is one of these domains or a subdomain of one."""
        domains_file: RegularFile | None = None
        """More `domains`, one per line (a URL, `*.domain`, a hosts file's lines and Unicode
        names are read as the hosts they name)."""
        bad_words: list[str] = Field(default_factory=list)
        """Words (matched lowercased) that count against a document."""
        bad_words_file: RegularFile | None = None
        """More `bad_words`, one per line."""
        max_bad_words_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
        """Most words that may be bad words, as a share; 0 removes a document on any one, as C4 did."""

        @model_validator(mode="after")
        def _files_read(self) -> Blocklist.Params:
            _domains(self.domains, self.domains_file)  # before the run, not in its first shard
            if self.bad_words_file is not None:
                _text(self.bad_words_file)
            if not (self.domains or self.domains_file or self.bad_words or self.bad_words_file):
                raise ValueError("no domains or bad words to block: give some, or leave it out")
            return self

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.domains = _domains(params.domains, params.domains_file)
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
        host = pc.utf8_rtrim(pc.utf8_lower(pc.extract_regex(urls, HOST).field("host")), ".")
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


def _domains(listed: list[str], path: str | None) -> frozenset[str]:
    """The listed domains as URL hosts are compared; ValueError naming an entry that is none."""
    return frozenset(
        domain
        for entry in _entries(listed, path)
        for domain in _host_names(entry.split("#", 1)[0].split())
    )


def _host_names(fields: list[str]) -> list[str]:
    """A line's domains: itself, or the names after a hosts file's address."""
    if len(fields) > 1 and _is_address(fields[0]):
        return [_host_name(name) for name in fields[1:]]
    if len(fields) != 1:
        raise ValueError(f"domains: {' '.join(fields)!r} is not a domain (one per line)")
    return [_host_name(fields[0])]


def _host_name(entry: str) -> str:
    """`entry` as a URL's host: out of a URL, without `*.` or dots around, in punycode."""
    found = "://" in entry and re.match(HOST, entry)
    name = (found["host"] if found else entry).removeprefix("*.").strip(".")
    if not name.isascii():
        with contextlib.suppress(UnicodeError):  # not a host name: refused below
            name = name.encode("idna").decode("ascii")
    if not HOST_NAME.fullmatch(name):
        raise ValueError(f"domains: {entry!r} is not a domain")
    return name


@cache  # a hosts file gives the same address on each of its lines
def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _text(path: str) -> str:
    """A list file's text; ValueError naming it where it is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
