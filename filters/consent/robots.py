"""robots.txt rules by host, read from WARC captures of robots.txt files.

Common Crawl publishes the robots.txt files its crawler fetched for each segment
(`crawl-data/CC-MAIN-…/segments/…/robotstxt/*.warc.gz`); any WARC of robots.txt responses
will do. Each host's rules are the first HTTP 200 capture of its `/robots.txt` (a 4xx or 5xx
says nothing about what the site wants, so such a host has no rules here), its first 512 KiB
as RFC 9309 asks a parser to read at least. They are keyed by host name alone: a page on
`https://host/` is judged by a capture of `http://host/robots.txt` too. Rules are parsed
with protego (Scrapy's parser: Google's matching, wildcards, `$`, the longest match wins)
when a host's page is first judged.

Every process holds the text of every capture it loaded: the captures of a few segments
(a few hundred MB), not of a whole crawl.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from typing import BinaryIO
from urllib.parse import urlsplit

import fsspec
from fastwarc.warc import ArchiveIterator, WarcRecordType
from protego import Protego

ROBOTS_BYTES = 512 << 10
LARGEST_CAPTURE = 8 << 20
"""Captures larger than this are skipped unread (a robots.txt is rarely over 500 KiB)."""
PARSED_HOSTS = 10_000
"""Hosts whose parsed rules are kept, the most recently asked (every capture's text stays)."""


class RobotsRules:
    """The robots.txt of each host captured, asked which crawlers may fetch a URL."""

    def __init__(self, captures: dict[str, str]) -> None:
        self.captures = captures
        """Host name (lowercase) → its robots.txt."""
        self._parsed: OrderedDict[str, Protego] = OrderedDict()

    def disallowing(self, url: str | None, agents: tuple[str, ...]) -> list[str]:
        """The `agents` the URL's host's robots.txt disallows it to; none where its host has
        no capture."""
        host = _host(url)
        if host not in self.captures:
            return []
        rules = self._parsed.pop(host, None) or Protego.parse(self.captures[host])
        self._parsed[host] = rules
        if len(self._parsed) > PARSED_HOSTS:
            self._parsed.popitem(last=False)
        return [agent for agent in agents if not rules.can_fetch(url, agent)]


@lru_cache(maxsize=1)
def robots_rules(patterns: tuple[str, ...]) -> RobotsRules:
    """`read_robots_rules`, once per process for the stage's shards."""
    return read_robots_rules(patterns)


def read_robots_rules(patterns: tuple[str, ...]) -> RobotsRules:
    """The captures in the files these paths or globs match; ValueError naming a pattern that
    matches nothing, a file that is not a WARC, or files that hold no capture."""
    captures: dict[str, str] = {}
    for pattern in patterns:
        files = fsspec.open_files(pattern, "rb")
        if not files:
            raise ValueError(f"{pattern!r} matches no file")
        for file in files:
            with file as handle:
                _read_captures(handle, file.full_name, captures)
    if not captures:
        raise ValueError(
            f"{', '.join(patterns)}: no robots.txt capture (an HTTP 200 response to a "
            "`/robots.txt` URL) in these files"
        )
    return RobotsRules(captures)


def _read_captures(handle: BinaryIO, name: str, captures: dict[str, str]) -> None:
    records = ArchiveIterator(
        handle,
        record_types=WarcRecordType.response,
        parse_http=True,
        max_content_length=LARGEST_CAPTURE,
        auto_decode="all",  # a gzip Content-Encoding (or chunking) a server used
    )
    try:
        for record in records:
            url = record.headers.get("WARC-Target-URI", "").strip("<>")
            host = _host(url) if url.endswith("/robots.txt") else None
            ok = record.is_http and record.http_headers.status_code == 200
            if ok and host and host not in captures:
                body = record.reader.read(ROBOTS_BYTES)
                captures[host] = body.decode("utf-8", errors="replace")
    except Exception as err:  # fastwarc's error for a damaged archive names no file
        raise ValueError(f"{name}: not a readable WARC ({err})") from None


def _host(url: str | None) -> str | None:
    try:
        return urlsplit(url or "").hostname
    except ValueError:  # an unparsable URL (a bad IPv6 literal) has no host to look up
        return None
