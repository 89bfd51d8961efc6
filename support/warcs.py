"""Hand-built WARC files: the one WARC writer of the repository, for the tests (each kind
of damage made on purpose) and for data/make_sample.py (the demo's crawl)."""

from __future__ import annotations

import gzip
import struct
import uuid
import zlib
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
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
    headers: dict[str, str] | None = None,
) -> bytes:
    fields = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
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
    return format_record(list(headers.items()), block)


def warcinfo_record(filename: str) -> bytes:
    """The record a Common Crawl WARC, WET or WAT file starts with."""
    fields = b"software: support/warcs.py\r\nformat: WARC File Format 1.0\r\n"
    return warc_record(
        fields,
        filename,
        "warcinfo",
        {"WARC-Filename": filename, "Content-Type": "application/warc-fields"},
    )


def conversion_record(n: int, text: bytes, uri: str | None = None) -> bytes:
    """A WET file's record: the plain text Common Crawl extracted from response `n`, which
    `WARC-Refers-To` names."""
    uri = uri or f"https://news.example.com/story/{n}"
    extra = {
        "WARC-Refers-To": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uri + 'response')}>",
        "WARC-Identified-Content-Language": "eng",
        "Content-Type": "text/plain",
    }
    return warc_record(text, uri, "conversion", extra)


def format_record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    """A WARC/1.0 record: its header lines in the order given, a blank line, the block and
    the record end."""
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def gzip_member(record: bytes) -> bytes:
    """A record as its own gzip member, as Common Crawl writes them (no date: reproducible)."""
    return gzip.compress(record, compresslevel=9, mtime=0)


def page_record(n: int, body: bytes | None = None, **kwargs) -> bytes:
    html = body if body is not None else html_page(f"Story number {n}").encode()
    return warc_record(http_response(html, **kwargs), f"https://news.example.com/story/{n}")


def write_warc(path: Path, records: list[bytes], gzipped: bool = True) -> Path:
    data = b"".join(map(gzip_member, records)) if gzipped else b"".join(records)
    path.write_bytes(data)
    return path


def gzip_bomb(prefix: bytes, zeros: int, suffix: bytes = b"") -> bytes:
    """A gzip member of `prefix`, `zeros` zero bytes (whole MiBs) and `suffix`, made without
    deflating all those zeros: one MiB of them is deflated once, after a full flush, and its
    output repeated. About 1 KiB of member per MiB inflated."""
    mib = bytes(1 << 20)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = deflater.compress(prefix) + deflater.flush(zlib.Z_FULL_FLUSH)
    zeros_mib = deflater.compress(mib) + deflater.flush(zlib.Z_FULL_FLUSH)
    end = deflater.compress(suffix) + deflater.flush()
    crc = zlib.crc32(prefix)
    for _ in range(zeros >> 20):
        crc = zlib.crc32(mib, crc)
    size = len(prefix) + zeros + len(suffix)
    trailer = struct.pack("<II", zlib.crc32(suffix, crc), size & 0xFFFFFFFF)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + start + zeros_mib * (zeros >> 20) + end + trailer


def bomb_record(uri: str, zeros: int, content_length: int | None = None) -> bytes:
    """A gzip member holding one response whose HTML body is `zeros` zero bytes; its WARC
    Content-Length tells the truth unless `content_length` is given."""
    http_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    size = len(http_head) + zeros if content_length is None else content_length
    head = warc_record(b"", uri, content_length=size)[: -len(b"\r\n\r\n")]
    return gzip_bomb(head + http_head, zeros, suffix=b"\r\n\r\n")
