"""The `extract` stage: HTML → main text, per page, never fatal.

Engines: `tokenmill` (default; our block scoring on a lexbor DOM, see pipeline/maintext.py:
trafilatura's quality at a fraction of its time), `resiliparse` (its DOM parser and
main-content heuristics, fast, keeps more boilerplate) and `trafilatura`
(`include_comments=False, include_tables=True`, the reference, slow).
The bytes are decoded first: valid UTF-8 is taken as UTF-8 whatever the header says
(mislabelled pages are common), otherwise the HTTP header's charset or the page's
`<meta>` one, otherwise a detected one
(valid UTF-8 goes to the tokenmill engine's parser as the bytes it is).
Removes `empty_text` (no main text found); errors `extract_error` (the engine raised) and
`extract_timeout` (the page alone ran past `timeout`: the tokenmill engine makes blocks
nested by the ten thousand paragraphs, which lexbor parses in time; the other engines'
parsers may still take minutes over them).
Documents from non-WARC inputs carry no `html` column and pass through untouched. The HTML
stays beside the text: the runner drops it after the last stage that reads it (`consent`).
"""

from __future__ import annotations

import contextlib
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.engines import ENGINES, UTF8_BYTES_ENGINES
from pipeline.stage import Stage, TimeBudget, Verdict


def decode_html(body: bytes, declared: str | None) -> str:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    with contextlib.suppress(UnicodeDecodeError):
        return body.decode("utf-8")
    # As a browser: the HTTP header's charset, else a <meta> charset in the first 1024
    # bytes, else a guess (uchardet's guess at short EUC-KR pages is UTF-8). Bytes that are
    # not UTF-8 but say they are are mislabelled, so that label is passed over.
    encoding = (
        _not_utf8(declared)
        or _not_utf8(detect_encoding(body, from_html_meta=True))
        or detect_encoding(body)
    )
    try:
        return bytes_to_str(body, encoding, errors="replace", fallback_encodings=("cp1252",))
    except LookupError:  # a declared charset Python does not know
        return bytes_to_str(body, detect_encoding(body), errors="replace")


def _not_utf8(label: str | None) -> str | None:
    return label if label and label.lower().replace("_", "-") not in ("utf-8", "utf8") else None


def is_utf8(body: bytes) -> bool:
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Extract(Stage):
    """Turns each page's HTML into its main text, dropping pages where none is found."""

    name = "extract"
    reads = ("html", "charset")

    class Params(TimeBudget):
        engine: Literal["tokenmill", "resiliparse", "trafilatura"] = "tokenmill"
        """Main-text extractor: tokenmill's own (fastest), or resiliparse's or trafilatura's."""

    def process(self, table: pa.Table) -> Verdict:
        if "html" not in table.column_names:
            return Verdict(table)
        engine = ENGINES[self.params.engine]
        takes_bytes = self.params.engine in UTF8_BYTES_ENGINES
        texts: list[str | None] = []
        errors: list[str | None] = []
        for body, charset in zip(
            table.column("html").to_pylist(), table["charset"].to_pylist(), strict=True
        ):
            try:
                html = body if takes_bytes and is_utf8(body) else decode_html(body, charset)
                texts.append(engine(html).strip())
                errors.append(None)
            except Exception:  # one bad page must not stop the shard
                texts.append(None)
                errors.append("extract_error")
        text = pa.array(texts, pa.string())
        table = table.append_column("text", text)
        empty = pc.equal(pc.fill_null(text, "x"), "")
        removed = pc.if_else(empty, "empty_text", pa.scalar(None, pa.string()))
        return Verdict(table, removed=removed, errored=pa.array(errors, pa.string()))
