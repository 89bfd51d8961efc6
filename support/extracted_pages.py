"""The trafilatura evaluation WARC through our reader and `extract` stage, with each page's
`<html lang>` attribute kept aside, so filter and language tests judge real extracted text."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from pipeline.config import InputSpec
from pipeline.extract import Extract
from pipeline.inputs import InputFile
from pipeline.readers import read_documents
from pipeline.stats import StageStats

HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3})\b", re.IGNORECASE)


def html_lang(html: bytes) -> str | None:
    """Primary subtag of the page's `<html lang>` attribute (`de-DE` → `de`), if any."""
    found = HTML_LANG.search(html[:20_000])
    return found.group(1).decode().lower() if found else None


def extracted_pages(warc: Path, engine: str = "trafilatura") -> pa.Table:
    """id, url, text and html_lang of every page the extract stage keeps."""
    spec = InputSpec(source="web", format="warc", paths=[str(warc)])
    stage = Extract(Extract.Params(engine=engine))
    tables = []
    for batch in read_documents(InputFile(spec, str(warc), "web-00000"), StageStats(), 64):
        langs = pa.array([html_lang(body) for body in batch["html"].to_pylist()], pa.string())
        verdict = stage.process(batch)
        keep = verdict.removed.is_null().to_numpy(
            zero_copy_only=False
        ) & verdict.errored.is_null().to_numpy(zero_copy_only=False)
        table = verdict.table.select(["id", "url", "text"]).append_column("html_lang", langs)
        tables.append(table.filter(pa.array(keep)))
    return pa.concat_tables(tables)
