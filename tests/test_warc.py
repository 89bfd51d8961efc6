"""The WARC reader on records that used to break it: any record is counted, never raised;
damage loses only the damaged region; decompression is bounded; payloads are decoded."""

import gzip
import itertools
import random
import re
import resource
import time
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from pipeline.readers import warc
from support.warcs import (
    bomb_record,
    gzip_bomb,
    html_page,
    http_response,
    page_record,
    warc_record,
    write_warc,
)
from tests.test_readers import read, urls

HTML = html_page("Encoded page").encode()
TARGET_URI = re.compile(rb"WARC-Target-URI: (\S+)")


def pages(count: int) -> list[bytes]:
    return [page_record(n) for n in range(count)]


def names(count: int) -> list[str]:
    return [str(n) for n in range(count)]


def encoded_record(body: bytes, headers: dict[str, str]) -> bytes:
    block = http_response(body, headers=headers)
    return warc_record(block, "https://news.example.com/story/encoded")


def chunked(data: bytes, size: int = 100) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


# Defect 1: a record without HTTP headers stopped the whole shard.


@pytest.mark.parametrize("gzipped", [True, False])
def test_responses_that_are_not_http_are_removed_not_http(tmp_path, gzipped):
    dns = warc_record(
        b"20240301120000\nnews.example.com.\t300\tIN\tA\t192.0.2.7\n",
        "dns:news.example.com",
        extra={"Content-Type": "text/dns"},
    )
    flipped = page_record(2).replace(b"application/http", b"application/hutp")
    records = [page_record(0), dns, page_record(1), flipped, page_record(3)]
    table, stats = read(write_warc(tmp_path / "dns.warc", records, gzipped))
    assert urls(table) == ["0", "1", "3"]
    assert stats.removed == {"not_http": 2}
    assert stats.errored == {}


def test_resource_records_are_removed_not_http(tmp_path):
    resource = warc_record(
        HTML, "file:///archive/page.html", "resource", extra={"Content-Type": "text/html"}
    )
    table, stats = read(write_warc(tmp_path / "r.warc.gz", [page_record(0), resource]))
    assert urls(table) == ["0"]
    assert stats.docs_in == 2
    assert stats.removed == {"not_http": 1}


def test_a_damaged_warc_type_is_errored_corrupt_record(tmp_path):
    damaged = page_record(1).replace(b"WARC-Type: response", b"WARC-Type: respTnse")
    records = [page_record(0), damaged, page_record(2)]
    table, stats = read(write_warc(tmp_path / "t.warc.gz", records))
    assert urls(table) == ["0", "2"]
    assert stats.errored == {"corrupt_record": 1}


def test_records_that_are_not_documents_are_not_counted(tmp_path):
    others = [
        warc_record(b"GET / HTTP/1.1\r\n\r\n", "https://x.example/", record_type)
        for record_type in ("request", "metadata", "warcinfo", "revisit", "conversion")
    ]
    table, stats = read(write_warc(tmp_path / "o.warc.gz", [*others, page_record(0)]))
    assert urls(table) == ["0"]
    assert stats.docs_in == 1


def test_whatever_a_record_breaks_is_errored_not_raised(tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("a parser bug")

    monkeypatch.setattr(warc, "document_id", broken)
    table, stats = read(write_warc(tmp_path / "b.warc.gz", pages(2)))
    assert table is None
    assert stats.errored == {"bad_record": 2}


# Defect 2: after a damaged Content-Length header name, every later record was lost.


@pytest.mark.parametrize("gzipped", [True, False])
def test_a_damaged_content_length_name_loses_only_its_record(tmp_path, gzipped):
    records = pages(13)
    records[3] = records[3].replace(b"Content-Length", b"Contenu-Length", 1)
    table, stats = read(write_warc(tmp_path / "cl.warc", records, gzipped))
    assert urls(table) == [n for n in names(13) if n != "3"]
    assert stats.errored == {"corrupt_record": 1}


def test_damage_right_after_a_record_does_not_cost_it(tmp_path):
    records = pages(5)
    data = b"".join(records[:3]) + b"\x00garbage\r\n" * 30 + b"".join(records[3:])
    (tmp_path / "g.warc").write_bytes(data)
    table, stats = read(tmp_path / "g.warc")
    assert urls(table) == names(5)
    assert stats.errored == {"corrupt_record": 1}


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("length", ["100000", "99999999999999999"])
def test_a_content_length_past_the_end_of_the_file_loses_only_its_record(tmp_path, gzipped, length):
    records = pages(6)
    records[2] = re.sub(rb"Content-Length: \d+", b"Content-Length: " + length.encode(), records[2])
    table, stats = read(write_warc(tmp_path / "long.warc", records, gzipped))
    assert urls(table) == ["0", "1", "3", "4", "5"]
    assert stats.docs_in == 6  # the liar: too_large in its own gzip member, else corrupt


def test_a_plain_record_over_the_cap_is_skipped_unread(tmp_path):
    huge = page_record(1, body=html_page("huge", paragraphs=40).encode())
    path = write_warc(tmp_path / "big.warc", [page_record(0), huge, page_record(2)], False)
    table, stats = read(path, max_record_bytes=3000)
    assert urls(table) == ["0", "2"]
    assert stats.errored == {"too_large": 1}


# Defect 3: a gzip bomb was inflated in full (35 s, 2.2 GB for one of 1 MB).

BOMB = bomb_record("https://bomb.example/", 1 << 30)  # ~1 MB compressed, 1 GiB inflated


def read_bounded(path):
    """The read, its seconds, and the most memory it held: Python's allocations (traced)
    or the process's resident peak growth, which also sees zlib's and Rust's. A first read
    imports the readers, so that is done before measuring."""
    read(write_warc(path.with_name("warm-up.warc.gz"), pages(1)))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
    tracemalloc.start()
    started = time.perf_counter()
    try:
        table, stats = read(path)
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10) - rss_before
    return table, stats, seconds, max(traced, rss_growth)


@pytest.mark.parametrize("where", [0, 2, 4])
def test_a_gzip_bomb_is_never_inflated_past_the_cap(tmp_path, where):
    members = [gzip.compress(record, mtime=0) for record in pages(4)]
    members.insert(where, BOMB)
    (tmp_path / "bomb.warc.gz").write_bytes(b"".join(members))
    table, stats, seconds, peak = read_bounded(tmp_path / "bomb.warc.gz")
    assert urls(table) == names(4)
    assert stats.errored == {"too_large": 1}
    assert seconds < 1.0
    assert peak < 40 << 20  # the cap is 10 MB; the bomb is 1 GiB


def test_a_gzip_bomb_that_lies_about_its_length_is_bounded_too(tmp_path):
    liar = bomb_record("https://bomb.example/", 1 << 30, content_length=5_000_000)
    members = [gzip.compress(page_record(0), mtime=0), liar, gzip.compress(page_record(1))]
    (tmp_path / "liar.warc.gz").write_bytes(b"".join(members))
    table, stats, seconds, peak = read_bounded(tmp_path / "liar.warc.gz")
    assert urls(table) == ["0", "1"]
    assert stats.errored == {"corrupt_record": 1}
    assert seconds < 1.0
    assert peak < 40 << 20


def test_an_http_body_that_inflates_past_the_cap_is_too_large(tmp_path):
    body = gzip_bomb(b"<html><body>", 1 << 30)
    bomb = encoded_record(body, {"Content-Encoding": "gzip"})
    path = write_warc(tmp_path / "body.warc.gz", [page_record(0), bomb])
    table, stats, seconds, peak = read_bounded(path)
    assert urls(table) == ["0"]
    assert stats.errored == {"too_large": 1}
    assert seconds < 1.0
    assert peak < 40 << 20


# Defect 4: chunked and compressed payloads were kept as they came over the wire.


def raw_deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


ENCODED = {
    "gzip": gzip.compress(HTML),
    "x-gzip": gzip.compress(HTML),
    "deflate": zlib.compress(HTML),
    "br": brotli.compress(HTML),
    "zstd": zstandard.ZstdCompressor().compress(HTML),
    "identity": HTML,
    "gzip, br": brotli.compress(gzip.compress(HTML)),
}


@pytest.mark.parametrize("encoding", ENCODED)
def test_content_encodings_are_decoded(tmp_path, encoding):
    record = encoded_record(ENCODED[encoding], {"Content-Encoding": encoding})
    table, stats = read(write_warc(tmp_path / "e.warc.gz", [record]))
    assert table.column("html").to_pylist() == [HTML]
    assert stats.bytes_kept == len(HTML)


def test_raw_deflate_is_decoded(tmp_path):
    record = encoded_record(raw_deflate(HTML), {"Content-Encoding": "deflate"})
    table, _ = read(write_warc(tmp_path / "raw.warc.gz", [record]))
    assert table.column("html").to_pylist() == [HTML]


def test_chunked_bodies_are_dechunked(tmp_path):
    plain = encoded_record(chunked(HTML), {"Transfer-Encoding": "chunked"})
    zipped = encoded_record(
        chunked(gzip.compress(HTML), 37),
        {"Transfer-Encoding": "chunked", "Content-Encoding": "gzip"},
    )
    table, _ = read(write_warc(tmp_path / "c.warc.gz", [plain, zipped]))
    assert table.column("html").to_pylist() == [HTML, HTML]


def test_a_body_the_crawler_already_dechunked_is_kept_as_it_is(tmp_path):
    record = encoded_record(HTML, {"Transfer-Encoding": "chunked"})
    table, _ = read(write_warc(tmp_path / "d.warc.gz", [record]))
    assert table.column("html").to_pylist() == [HTML]


def test_common_crawls_renamed_headers_leave_the_body_alone(tmp_path):
    record = encoded_record(
        HTML, {"X-Crawler-Content-Encoding": "gzip", "X-Crawler-Transfer-Encoding": "chunked"}
    )
    table, _ = read(write_warc(tmp_path / "cc.warc.gz", [record]))
    assert table.column("html").to_pylist() == [HTML]


def test_bodies_that_do_not_decode_are_errored(tmp_path):
    records = [
        encoded_record(HTML, {"Content-Encoding": "gzip"}),
        encoded_record(gzip.compress(HTML)[:-6] + b"\x00" * 6, {"Content-Encoding": "gzip"}),
        encoded_record(b"\xff" * 64, {"Content-Encoding": "br"}),
        encoded_record(HTML, {"Content-Encoding": "compress"}),
        page_record(9),
    ]
    table, stats = read(write_warc(tmp_path / "bad.warc.gz", records))
    assert urls(table) == ["9"]
    assert stats.errored == {"bad_content_encoding": 3, "unknown_content_encoding": 1}


@pytest.mark.parametrize(
    ("gzipped", "keep", "reason"),
    [
        (True, -200, "truncated_record"),  # inside the last record's block
        (True, 20, "truncated_archive"),  # inside the last member, before a whole header
        (False, -200, "truncated_record"),
        (False, 20, "corrupt_record"),  # inside a plain header: not a record, as before
    ],
)
def test_a_cut_file_counts_what_it_cuts(tmp_path, gzipped, keep, reason):
    pieces = [gzip.compress(r, mtime=0) if gzipped else r for r in pages(3)]
    (tmp_path / "cut.warc").write_bytes(b"".join(pieces[:2]) + pieces[2][:keep])
    table, stats = read(tmp_path / "cut.warc")
    assert urls(table) == ["0", "1"]
    assert stats.errored == {reason: 1}


# A file gzipped as one stream holds all its records in one member.


def test_a_warc_gzipped_as_one_stream_is_read_fully(tmp_path):
    (tmp_path / "one.warc.gz").write_bytes(gzip.compress(b"".join(pages(8)), mtime=0))
    table, stats = read(tmp_path / "one.warc.gz")
    assert urls(table) == names(8)
    assert len(set(table.column("id").to_pylist())) == 8
    assert stats.errored == {}


# Fuzzing: any damage, anywhere, and the reader keeps every record before it.


def fuzz_sample() -> list[bytes]:
    """Twelve pages among records of the other kinds the reader meets."""
    records = pages(12)
    records[4] = page_record(4, body=gzip.compress(HTML), headers={"Content-Encoding": "gzip"})
    records[7] = page_record(7, body=chunked(HTML), headers={"Transfer-Encoding": "chunked"})
    records.insert(2, warc_record(b"GET / HTTP/1.1\r\n\r\n", "https://x.example/", "request"))
    records.insert(6, page_record(90, status="404 Not Found"))
    records.insert(9, warc_record(b"x", "dns:x.example", extra={"Content-Type": "text/dns"}))
    return records


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, int]:
    """`data` with 1-4 flipped bytes, cut short, or both; and the first damaged offset."""
    kind = rng.choice(["flip", "cut", "both"])
    damaged = bytearray(data)
    first = len(data)
    if kind in ("flip", "both"):
        for offset in rng.sample(range(len(data)), rng.randint(1, 4)):
            damaged[offset] ^= rng.randint(1, 255)
            first = min(first, offset)
    if kind in ("cut", "both"):
        cut = rng.randrange(len(data))
        del damaged[cut:]
        first = min(first, cut)
    return bytes(damaged), first


@pytest.mark.parametrize("gzipped", [True, False])
def test_fuzzed_warcs_keep_every_record_before_the_damage(tmp_path, gzipped):
    records = fuzz_sample()
    pieces = [gzip.compress(r, mtime=0) for r in records] if gzipped else records
    ends = list(itertools.accumulate(len(piece) for piece in pieces))
    record_urls = [TARGET_URI.search(record).group(1).decode() for record in records]
    clean = b"".join(pieces)
    path = tmp_path / "fuzz.warc"
    path.write_bytes(clean)
    table, _ = read(path)
    documents = set(table.column("url").to_pylist())
    rng = random.Random(20240301 + gzipped)
    for case in range(60):
        damaged, first = mutate(clean, rng)
        path.write_bytes(damaged)
        table, stats = read(path)  # counts are conserved, and nothing raises
        kept = set() if table is None else set(table.column("url").to_pylist())
        intact = {url for url, end in zip(record_urls, ends, strict=True) if end <= first}
        assert intact & documents <= kept, (case, first, stats)
