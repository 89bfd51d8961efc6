"""Hand-built WARC files for tests, so each kind of damage can be made on purpose."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

PARAGRAPH = (
    "The committee met on Tuesday to review the budget for the new library wing. "
    "Members agreed that the reading rooms should open before the autumn term begins, "
    "and asked the architects to publish the revised floor plans next month."
)


def html_page(title: str, paragraphs: int = 3, lang: str = "en", body: str | None = None) -> str:
    text = body or "".join(f"<p>{PARAGRAPH} ({title}, part {n})</p>" for n in range(paragraphs))
    return (
        f'<!doctype html><html lang="{lang}"><head><title>{title}</title></head><body>'
        f'<nav><a href="/">Home</a> <a href="/news">News</a></nav>'
        f"<article><h1>{title}</h1>{text}</article>"
        f"<footer>Copyright 2024 Example Media</footer></body></html>"
    )


def http_response(
    body: bytes, content_type: str = "text/html; charset=utf-8", status: str = "200 OK"
) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def warc_record(
    block: bytes,
    uri: str,
    record_type: str = "response",
    extra: dict[str, str] | None = None,
    content_length: int | None = None,
) -> bytes:
    headers = {
        "WARC-Type": record_type,
        "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uri + record_type)}>",
        "WARC-Target-URI": uri,
        "WARC-Date": "2024-03-01T12:00:00Z",
        "Content-Type": "application/http; msgtype=response",
        "Content-Length": str(len(block) if content_length is None else content_length),
        **(extra or {}),
    }
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + block + b"\r\n\r\n"


def page_record(n: int, body: bytes | None = None, **kwargs) -> bytes:
    html = body if body is not None else html_page(f"Story number {n}").encode()
    return warc_record(http_response(html, **kwargs), f"https://news.example.com/story/{n}")


def write_warc(path: Path, records: list[bytes], gzipped: bool = True) -> Path:
    data = b"".join(gzip.compress(r, mtime=0) for r in records) if gzipped else b"".join(records)
    path.write_bytes(data)
    return path
