"""The consent stage's HTML signals read the plain way: lxml parses the whole page and every
`<meta>`, `<link>` and `<a>` is looked at. The stage's reading is checked against it
(tests/test_consent.py) and timed against it (benchmarks/consent.py)."""

from __future__ import annotations

import lxml.etree
import lxml.html

from filters.consent.page_signals import LICENSE_METAS, license_id


def whole_page_signals(html: bytes, agents: frozenset[str]) -> tuple[list[str], str | None]:
    """The page's opt-out signals (`tdm_reserved`, `noai_meta`, strongest first) and its first
    Creative Commons licence; `agents`: crawler names, lowercased."""
    try:
        root = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):  # an empty or unparsable document
        return [], None
    found, spdx = set(), None
    for element in root.iter("meta", "link", "a"):
        if element.tag == "meta":
            name = (element.get("name") or "").strip().lower()
            content = element.get("content")
            if content is None:
                continue
            words = {word.strip(" ,").lower() for word in content.replace(",", " ").split()}
            if (name == "robots" or name in agents) and "noai" in words:
                found.add("noai_meta")
            elif name == "tdm-reservation" and content.strip() == "1":
                found.add("tdm_reserved")
            elif name in LICENSE_METAS:
                spdx = spdx or license_id(content.strip())
        elif "license" in (element.get("rel") or "").lower().split():
            spdx = spdx or license_id((element.get("href") or "").strip())
    return [signal for signal in ("tdm_reserved", "noai_meta") if signal in found], spdx
