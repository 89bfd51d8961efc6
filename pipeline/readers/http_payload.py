"""HTTP payload decoding: a response body as a browser would see it.

A crawler stores a body as it came over the wire, so it may still be chunked
(Transfer-Encoding) and compressed (Content-Encoding: gzip, deflate, br, zstd, or a list
of them, undone in reverse order). Extraction needs the HTML, so we undo both. Common
Crawl stores bodies already decoded and renames these headers (X-Crawler-Content-Encoding,
...), so only the real header names trigger decoding.

Every decoder stops once its output passes the cap: a compression bomb costs no more than
a body at the cap, and is errored `too_large`. A body that does not decode is errored
`bad_content_encoding`, an encoding we do not know `unknown_content_encoding`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

import brotli
import zstandard

BROTLI_STEP = 1 << 20
"""Output asked of brotli per call; it may return up to about twice as much."""
CHUNK_SIZE_LINE = re.compile(rb"([0-9a-fA-F]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
LINE_END = re.compile(rb"\r?\n")


class PayloadError(Exception):
    """A body we cannot decode; `reason` is the errored reason to count."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_payload(body: bytes, transfer_encoding: str, content_encoding: str, limit: int) -> bytes:
    """`body` with its transfer and content codings undone (header values comma-separated)."""
    if "chunked" in _codings(transfer_encoding):
        body = dechunk(body)
    for coding in reversed(_codings(content_encoding)):
        decoder = DECODERS.get(coding)
        if decoder is None:
            raise PayloadError("unknown_content_encoding")
        try:
            body = decoder(body, limit)
        except (zlib.error, brotli.error, zstandard.ZstdError) as error:
            raise PayloadError("bad_content_encoding") from error
        if len(body) > limit:
            raise PayloadError("too_large")
    return body


def _codings(header: str) -> list[str]:
    return [coding.strip().lower() for coding in header.split(",") if coding.strip()]


def dechunk(body: bytes) -> bytes:
    """`body` without its chunked transfer coding. Lenient, like warcio: from the first
    place where it does not parse as chunks (a crawler that stored it de-chunked) the rest
    is kept as it is, and a body cut before its last chunk keeps what it has."""
    pieces = []
    position = 0
    while size_line := CHUNK_SIZE_LINE.match(body, position):
        size = int(size_line.group(1), 16)
        if size == 0:
            return b"".join(pieces)
        chunk_end = size_line.end() + size
        line_end = LINE_END.match(body, chunk_end)
        if line_end is None and chunk_end < len(body):
            break
        pieces.append(body[size_line.end() : chunk_end])
        position = line_end.end() if line_end else len(body)
    return b"".join([*pieces, body[position:]])


def gunzip(data: bytes, limit: int) -> bytes:
    return _inflate(data, zlib.MAX_WBITS | 16, limit)


def inflate_deflate(data: bytes, limit: int) -> bytes:
    """HTTP's deflate: zlib-wrapped as the standard says, or raw deflate, as many servers
    send it and browsers accept."""
    try:
        return _inflate(data, zlib.MAX_WBITS, limit)
    except zlib.error:
        return _inflate(data, -zlib.MAX_WBITS, limit)


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """At most `limit + 1` bytes; a stream cut short gives what it has, as in a browser."""
    return zlib.decompressobj(wbits).decompress(data, limit + 1)


def unbrotli(data: bytes, limit: int) -> bytes:
    decompressor = brotli.Decompressor()
    pieces = [decompressor.process(data, output_buffer_limit=BROTLI_STEP)]
    size = len(pieces[0])
    while size <= limit and not decompressor.is_finished():
        piece = decompressor.process(b"", output_buffer_limit=BROTLI_STEP)
        if not piece:  # the input ends before the stream does
            break
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


def unzstd(data: bytes, limit: int) -> bytes:
    with zstandard.ZstdDecompressor().stream_reader(data) as reader:
        return reader.read(limit + 1)


def identity(data: bytes, limit: int) -> bytes:
    return data


DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": gunzip,
    "x-gzip": gunzip,
    "deflate": inflate_deflate,
    "br": unbrotli,
    "zstd": unzstd,
    "identity": identity,
}
