"""What a fetched page says about its own use for AI training: opt-outs and its licence.

Read from the page's HTTP headers and HTML, as the crawler fetched them:
- `noai_header`: an `X-Robots-Tag` header with the `noai` directive, for every crawler or
  one named in `agents` (`X-Robots-Tag: GPTBot: noai`). `noai` is DeviantArt's and
  Spawning's directive, the one the robots family has for AI use.
- `noai_meta`: the same directive in `<meta name="robots">`, or in a meta tag named for one
  of `agents` (`<meta name="GPTBot" content="noai">`).
- `tdm_reserved`: the W3C TDMRep reservation of text and data mining rights (the EU's
  DSM Directive, article 4), as its `tdm-reservation: 1` HTTP header or meta tag.
- the licence: the first Creative Commons URL the page names as its licence, in an HTTP
  `Link: <...>; rel="license"` header, a `<link>` or `<a>` whose `rel` holds `license`
  (rel-license, as the CC licence chooser writes it), or a `license`/`dcterms.license` meta
  tag; as its SPDX id (`CC-BY-SA-4.0`, `CC0-1.0`, `CC-BY-3.0-DE`). Links to other licences
  are not named.

Only pages whose bytes hold `noai`, `tdm-reservation` or `license` (any case: `worth_parsing`,
one Arrow scan of a batch) are looked at, and in them only the tags around those words, each
parsed alone by selectolax's lexbor parser (`_marked_tags`). A parse of the whole page
would cost as much as extracting it, and minutes on a hostile one (200,000 nested
elements); this costs a few scans of the page, and it finds what a parse of the whole page
finds on the 949 trafilatura-eval pages (tests/test_consent.py). A marker written inside a
script or a comment as part of a tag's text is read as that tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from selectolax.lexbor import LexborHTMLParser, LexborNode

MARKERS = ("noai", "tdm-reservation", "license")
SIGNAL_TAGS = 'meta[name], link[rel~="license" i], a[rel~="license" i]'
LONGEST_TAG = 4096
"""Bytes around a marker searched for the start and end of its tag."""
MOST_MARKS = 1024
"""Markers of each kind looked at per page (a page of text can repeat one endlessly)."""
LICENSE_METAS = ("license", "dcterms.license")
AGENT_PREFIX = re.compile(r"^\s*([A-Za-z][\w.-]*)\s*:\s*(.*)$", re.S)
TIMED_DIRECTIVES = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)
"""Robots directives that take a value after a colon: not a user agent's name."""
CREATIVE_COMMONS = re.compile(
    r"(?i)^(?:https?:)?//(?:www\.)?creativecommons\.org/"
    r"(?:licen[cs]es/(?P<kind>by(?:-nc)?(?:-nd|-sa)?|by-nd-nc|publicdomain)"
    r"|publicdomain/(?P<public>zero|mark))"
    r"(?:/(?P<version>\d+\.\d+)(?:/(?P<port>[a-z]{2}))?)?(?:/|$|[?#])"
)
LICENSE_LINK = re.compile(r'<([^>]*)>\s*;[^,]*\brel\s*=\s*"?[^",]*\blicense\b', re.I)


@dataclass
class PageSignals:
    opt_outs: list[str] = field(default_factory=list)
    """The opt-out signals found, each once: `tdm_reserved`, `noai_header`, `noai_meta`."""
    license: str | None = None


def worth_parsing(html: pa.ChunkedArray) -> np.ndarray:
    """Per page: whether its HTML holds a marker of a signal (no page without one has any)."""
    found = [pc.match_substring(html, marker, ignore_case=True) for marker in MARKERS]
    either = pc.fill_null(pc.or_(pc.or_(found[0], found[1]), found[2]), False)
    return either.to_numpy(zero_copy_only=False)


def page_signals(
    html: bytes | None, headers: Iterable[tuple[str, str]] | None, agents: frozenset[str]
) -> PageSignals:
    """What the page's HTTP headers and HTML say (`html`: None where it is not worth parsing);
    `agents`: crawler names, lowercased."""
    signals = PageSignals()
    for name, value in headers or ():
        _header_signal(signals, name.lower(), value, agents)
    if html:
        for element in _marked_tags(html):
            _tag_signal(signals, element, agents)
    order = ("tdm_reserved", "noai_header", "noai_meta")
    signals.opt_outs = [signal for signal in order if signal in signals.opt_outs]
    return signals


def _header_signal(signals: PageSignals, name: str, value: str, agents: frozenset[str]) -> None:
    if name == "x-robots-tag" and "noai" in _directives(value, agents):
        signals.opt_outs.append("noai_header")
    elif name == "tdm-reservation" and value.strip() == "1":
        signals.opt_outs.append("tdm_reserved")
    elif name == "link" and signals.license is None:
        for target in LICENSE_LINK.findall(value):
            signals.license = signals.license or license_id(target.strip())


def _directives(value: str, agents: frozenset[str]) -> set[str]:
    """The directives of one robots header or meta value that apply to every crawler or to
    one of `agents`: `googlebot: noindex` applies to Googlebot alone."""
    named = AGENT_PREFIX.match(value)
    if named and named.group(1).lower() not in TIMED_DIRECTIVES:
        if named.group(1).lower() not in agents:
            return set()
        value = named.group(2)
    return {part.strip().lower() for part in re.split(r"[,\s]+", value) if part.strip()}


def _marked_tags(html: bytes) -> Iterator[LexborNode]:
    """The signal tags (`SIGNAL_TAGS`) that hold a marker, in page order."""
    lowered = html.lower()
    tags = {}
    for marker in MARKERS:
        word = marker.encode()
        at, seen = lowered.find(word), 0
        while at != -1 and seen < MOST_MARKS:
            start = lowered.rfind(b"<", max(at - LONGEST_TAG, 0), at)
            end = lowered.find(b">", at, at + LONGEST_TAG)
            if start != -1 and end != -1 and lowered.find(b">", start, at) == -1:
                tags[start] = end  # the marker is inside this tag
            at, seen = lowered.find(word, at + len(word)), seen + 1
    for start in sorted(tags):
        element = LexborHTMLParser(html[start : tags[start] + 1]).css_first(SIGNAL_TAGS)
        if element is not None:
            yield element


def _tag_signal(signals: PageSignals, element: LexborNode, agents: frozenset[str]) -> None:
    attributes = element.attributes
    if element.tag != "meta":
        if signals.license is None:
            signals.license = license_id((attributes.get("href") or "").strip())
        return
    name, content = (attributes.get("name") or "").strip().lower(), attributes.get("content")
    if content is None:
        return
    if (name == "robots" or name in agents) and "noai" in _directives(content, frozenset()):
        signals.opt_outs.append("noai_meta")
    elif name == "tdm-reservation" and content.strip() == "1":
        signals.opt_outs.append("tdm_reserved")
    elif name in LICENSE_METAS and signals.license is None:
        signals.license = license_id(content.strip())


def license_id(url: str) -> str | None:
    """The SPDX id of a Creative Commons licence or public-domain tool's URL; None for any
    other URL."""
    found = CREATIVE_COMMONS.match(url)
    if found is None:
        return None
    tool, kind = (found["public"] or "").lower(), (found["kind"] or "").lower()
    if tool == "zero":
        family = "CC0"
    elif tool == "mark":
        family = "CC-PDM"
    elif kind == "publicdomain":
        return "CC-PDDC"
    else:
        family = "CC-" + kind.replace("by-nd-nc", "by-nc-nd").upper()
    parts = [family, found["version"], found["port"] and found["port"].upper()]
    return "-".join(part for part in parts if part)


def license_family(spdx: str) -> str:
    """`CC-BY-SA-3.0-DE` → `CC-BY-SA`: the licence without version or jurisdiction."""
    return re.sub(r"-\d.*$", "", spdx)
