"""Readers on good and bad input: the bad part is counted, everything else is kept."""

import gzip
import io
import itertools
import json
import lzma
import os
import random
import re
import struct
import time
import tracemalloc
import zlib
from unittest.mock import ANY

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipeline.compressed import DAMAGED_STREAM, GzipMembers, zstd_is_cut
from pipeline.config import InputSpec
from pipeline.documents import document_id
from pipeline.inputs import InputFile, InputShard
from pipeline.readers import read_documents
from pipeline.readers.text import SectionSplitter
from pipeline.stats import StageStats
from support.warcs import (
    gzip_bomb,
    html_page,
    http_response,
    page_record,
    warc_record,
    write_warc,
)


def read(path, fmt="warc", batch_size=4, **options):
    spec = InputSpec(source="src", format=fmt, paths=[str(path)], **options)
    stats = StageStats()
    file = InputFile(spec, str(path), "src-00000")
    tables = list(read_documents(file, stats, batch_size=batch_size))
    table = pa.concat_tables(tables) if tables else None
    assert stats.conserved(), stats
    return table, stats


def urls(table):
    return [u.rsplit("/", 1)[-1] for u in table.column("url").to_pylist()]


@pytest.mark.parametrize("gzipped", [True, False])
def test_a_clean_warc_yields_every_html_200_response(tmp_path, gzipped):
    records = [page_record(n) for n in range(6)]
    records.insert(2, warc_record(b"GET / HTTP/1.1\r\n\r\n", "https://x.example/", "request"))
    records.append(page_record(90, body=b"\x89PNG....", content_type="image/png"))
    records.append(page_record(91, status="404 Not Found"))
    table, stats = read(write_warc(tmp_path / "a.warc", records, gzipped))
    assert urls(table) == ["0", "1", "2", "3", "4", "5"]
    assert stats.docs_in == 8
    assert stats.removed == {"not_html": 1, "http_status": 1}
    row = table.slice(0, 1).to_pylist()[0]
    assert row["warc_record_id"].startswith("<urn:uuid:")
    assert row["crawl_date"].year == 2024
    assert row["truncated"] is False


def test_truncated_gzip_warc_keeps_the_complete_records(tmp_path):
    path = write_warc(tmp_path / "t.warc.gz", [page_record(n) for n in range(5)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 300])
    table, stats = read(path)
    assert urls(table) == ["0", "1", "2", "3"]
    assert sum(stats.errored.values()) == 1


@pytest.mark.parametrize("gzipped", [True, False])
def test_garbage_in_the_middle_loses_only_the_damaged_part(tmp_path, gzipped):
    records = [page_record(n) for n in range(6)]
    clean = write_warc(tmp_path / "clean", records, gzipped).read_bytes()
    cut = len(b"".join(gzip.compress(r, mtime=0) for r in records[:3])) if gzipped else None
    if not gzipped:
        cut = len(b"".join(records[:3])) - 40  # inside record 2's HTML
    damaged = tmp_path / "damaged.warc"
    damaged.write_bytes(clean[:cut] + os.urandom(700) + clean[cut:])
    table, stats = read(damaged)
    assert {"3", "4", "5"} <= set(urls(table))
    assert stats.errored.total() == 1
    assert len(table) + stats.errored.total() >= 6


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("delta", [-25, 400])
def test_a_lying_content_length_does_not_lose_the_following_records(tmp_path, gzipped, delta):
    block = http_response(html_page("liar").encode())
    liar = warc_record(
        block, "https://news.example.com/story/liar", content_length=len(block) + delta
    )
    records = [page_record(0), liar, page_record(2), page_record(3)]
    table, stats = read(write_warc(tmp_path / "l.warc", records, gzipped))
    assert {"0", "2", "3"} <= set(urls(table))
    assert len(table) + stats.errored.total() + stats.removed.total() >= 4


def test_records_over_the_limit_are_errored_too_large(tmp_path):
    huge = html_page("huge", body="<p>" + "word " * 10_000_000 + "</p>").encode()  # ~50 MB
    records = [page_record(0), page_record(1, body=huge), page_record(2)]
    table, stats = read(write_warc(tmp_path / "big.warc.gz", records))
    assert urls(table) == ["0", "2"]
    assert stats.errored == {"too_large": 1}


def test_warc_truncated_records_are_kept_and_flagged(tmp_path):
    block = http_response(html_page("cut").encode()[:300])
    cut = warc_record(
        block, "https://news.example.com/story/cut", extra={"WARC-Truncated": "length"}
    )
    table, _ = read(write_warc(tmp_path / "c.warc.gz", [page_record(0), cut]))
    assert table.column("truncated").to_pylist() == [False, True]


def test_empty_and_missing_files_are_one_errored_record_each(tmp_path):
    (tmp_path / "empty.warc.gz").write_bytes(b"")
    _, stats = read(tmp_path / "empty.warc.gz")
    assert stats.errored == {"empty_file": 1}
    _, stats = read(tmp_path / "absent.jsonl", fmt="jsonl")
    assert stats.errored == {"missing_file": 1}


def fifty_documents(folder, fmt):
    """50 documents in `fmt`, among records the reader counts and skips; read options."""
    if fmt == "warc":
        records = [page_record(n) for n in range(50)]
        records.insert(3, page_record(99, status="404 Not Found"))
        return write_warc(folder / "a.warc.gz", records), {}
    if fmt == "jsonl":
        lines = [json.dumps({"text": f"document {n}"}) for n in range(50)]
        lines.insert(0, "{not json")
        (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
        return folder / "a.jsonl", {}
    if fmt == "parquet":
        pq.write_table(pa.table({"text": [f"document {n}" for n in range(50)]}), folder / "a.pq")
        return folder / "a.pq", {}
    (folder / "a.txt").write_text("".join(f"# {n}\ndocument {n}\n" for n in range(50)))
    return folder / "a.txt", {"split_on": "^# "}


@pytest.mark.parametrize("fmt", ["warc", "jsonl", "parquet", "text"])
def test_limit_reads_the_first_documents_of_a_file_and_no_further(tmp_path, fmt):
    path, options = fifty_documents(tmp_path, fmt)
    whole, _ = read(path, fmt, batch_size=8, **options)
    first, stats = read(path, fmt, batch_size=8, limit=5, **options)
    assert first.column("id").to_pylist() == whole.column("id").to_pylist()[:5]
    assert stats.kept == 5 and stats.docs_in <= 11  # the rest of the file is never read
    # JSON lines are read a batch of lines at a time: the bad line made the first batch
    # one document short, so the second held 4 past the limit, counted, not lost.
    removed = {"warc": {"http_status": 1}, "jsonl": {"past_limit": 4}}.get(fmt, {})
    assert stats.removed == removed


def test_jsonl_keeps_good_lines_around_bad_ones(tmp_path):
    lines = [
        json.dumps({"text": "first document", "id": "a"}),
        "{not json",
        json.dumps({"text": "second", "url": "https://w.example/2"}),
        "",
        json.dumps({"title": "no text here"}),
        json.dumps({"text": "   "}),
        json.dumps({"text": 42}),
    ]
    raw = "\n".join(lines).encode() + b"\n" + b'{"text": "caf\xe9"}\n' + b'{"text": "last"}\n'
    raw += b'{"text": "a lone \\ud800 surrogate"}\n'  # valid JSON; no UTF-8 string holds it
    path = tmp_path / "d.jsonl"
    path.write_bytes(raw)
    table, stats = read(path, fmt="jsonl")
    assert table.column("text").to_pylist() == ["first document", "second", "last"]
    assert table.column("source_id").to_pylist() == ["a", None, None]
    assert len(set(table.column("id").to_pylist())) == 3
    assert stats.errored == {"invalid_json": 1, "missing_text": 2, "invalid_utf8": 2}
    assert stats.removed == {"empty_text": 1}


def test_compressed_jsonl_is_read(tmp_path):
    body = "".join(json.dumps({"text": f"doc {n}"}) + "\n" for n in range(10)).encode()
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(body))
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(body))
    for name in ("a.jsonl.gz", "a.jsonl.zst"):
        table, _ = read(tmp_path / name, fmt="jsonl")
        assert table.num_rows == 10


def test_parquet_with_and_without_text(tmp_path):
    pq.write_table(
        pa.table({"text": ["a", None, "c"], "url": ["u1", "u2", "u3"]}), tmp_path / "ok.parquet"
    )
    table, stats = read(tmp_path / "ok.parquet", fmt="parquet")
    assert table.column("text").to_pylist() == ["a", "c"]
    assert stats.errored == {"missing_text": 1}
    pq.write_table(pa.table({"body": ["a", "b"]}), tmp_path / "bad.parquet")
    table, stats = read(tmp_path / "bad.parquet", fmt="parquet")
    assert table is None and stats.errored == {"missing_text_column": 2}
    for kind, values in {"integers": [1, 2], "lists": [["a"], ["b"]]}.items():
        pq.write_table(pa.table({"text": values}), tmp_path / f"{kind}.parquet")
        table, stats = read(tmp_path / f"{kind}.parquet", fmt="parquet")
        assert table is None and stats.errored == {"text_column_not_text": 2}, kind
    pq.write_table(pa.table({"text": [None, None]}), tmp_path / "nulls.parquet")
    table, stats = read(tmp_path / "nulls.parquet", fmt="parquet")
    assert table.num_rows == 0 and stats.errored == {"missing_text": 2}
    (tmp_path / "junk.parquet").write_bytes(b"this is not parquet at all")
    _, stats = read(tmp_path / "junk.parquet", fmt="parquet")
    assert stats.errored == {"corrupt_file": 1}


@pytest.mark.parametrize("bad_line", [False, True])  # a block pyarrow reads, or line by line
def test_jsonl_and_parquet_fields_of_other_names_are_read_as_columns_says(tmp_path, bad_line):
    """RedPajama keeps the text in `raw_content`; the `text`, `id` and `url` there are not
    the document's and are left out."""
    rows = [
        {"raw_content": f"page {n}", "doc_id": n, "text": "not this", "id": "x", "source": f"u{n}"}
        for n in range(3)
    ]
    columns = {"text": "raw_content", "id": "doc_id", "url": "source"}
    lines = [json.dumps(row) for row in rows] + (["{not json"] if bad_line else [])
    (tmp_path / "rp.jsonl").write_text("\n".join(lines) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rp.parquet")
    for name in ("rp.jsonl", "rp.parquet"):
        table, _ = read(tmp_path / name, fmt=name.split(".")[1], columns=columns)
        assert table.column("text").to_pylist() == ["page 0", "page 1", "page 2"], name
        assert table.column("source_id").to_pylist() == ["0", "1", "2"], name
        assert table.column("url").to_pylist() == ["u0", "u1", "u2"], name


def test_text_files_split_on_headings(tmp_path):
    content = " = Alpha = \n alpha body \n = = Sub = = \n more \n = Beta = \n beta body \n"
    (tmp_path / "w.txt").write_text(content)
    table, _ = read(tmp_path / "w.txt", fmt="text", split_on=r"^ = [^=].* = $")
    texts = table.column("text").to_pylist()
    assert len(texts) == 2 and texts[0].startswith(" = Alpha") and "Sub" in texts[0]
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    _, stats = read(tmp_path / "latin.txt", fmt="text")
    assert stats.errored == {"invalid_utf8": 1}
    # A byte that is not UTF-8 costs only the section that holds it.
    (tmp_path / "w2.txt").write_bytes(content.replace("beta", "b\xe9ta").encode("latin-1"))
    table, stats = read(tmp_path / "w2.txt", fmt="text", split_on=r"^ = [^=].* = $")
    assert table.column("text").to_pylist() == [texts[0]]
    assert stats.errored == {"invalid_utf8": 1} and stats.docs_in == 2


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_a_windows_text_file_splits_as_its_unix_twin(tmp_path, ending):
    """`$` matches before `\n` only: a WikiText file saved with Windows line ends was one
    document. Line ends are read as `\n`, for a whole-file document too."""
    content = " = Alpha = \n alpha body \n = Beta = \n beta body \n"
    (tmp_path / "unix.txt").write_text(content)
    (tmp_path / "windows.txt").write_bytes(content.replace("\n", ending).encode())
    for options in ({"split_on": r"^ = [^=].* = $"}, {}):
        unix, _ = read(tmp_path / "unix.txt", fmt="text", **options)
        windows, _ = read(tmp_path / "windows.txt", fmt="text", **options)
        assert windows.column("text").to_pylist() == unix.column("text").to_pylist()
        assert windows.num_rows == (2 if options else 1)


def test_a_byte_order_mark_opening_a_text_file_is_not_text(tmp_path):
    """Windows tools save "UTF-8 with BOM": the mark was the first character of the first
    document (a whole file's, or its first section's)."""
    content = " = Alpha = \n alpha \ufeff body \n = Beta = \n beta body \n"
    (tmp_path / "plain.txt").write_text(content, encoding="utf-8")
    (tmp_path / "marked.txt").write_text(content, encoding="utf-8-sig")
    for options in ({"split_on": r"^ = [^=].* = $"}, {}):
        plain, _ = read(tmp_path / "plain.txt", fmt="text", **options)
        marked, _ = read(tmp_path / "marked.txt", fmt="text", **options)
        assert marked.column("text").to_pylist() == plain.column("text").to_pylist()
        assert marked.column("text")[0].as_py().startswith(" = Alpha")


def whole_text_sections(text, pattern, limit):
    """What a split file's sections are, found over the whole text at once."""
    starts = [m.start() for m in re.finditer(pattern, text, re.MULTILINE)]
    bounds = [0, *(s for s in starts if s > 0), len(text)]
    sections, line = [], 0
    for a, b in itertools.pairwise(bounds):
        if text[a:b].strip():
            sections.append((line, None if b - a > limit else text[a:b]))
        line += text.count("\n", a, b)
    return sections


class SmallSplitter(SectionSplitter):
    MARGIN = 16
    CONTEXT = 8


@pytest.mark.parametrize(
    "pattern", [r"^ = [^=].* = $", r"\n\n+", r"^", r"(?<=\.)\n", r"^---$", r"\n(?= = )"]
)
def test_a_split_file_read_piece_by_piece_splits_as_the_whole_text_does(pattern):
    lines = [" = Title = ", " = = Sub = = ", "", "", "Words here.", "more words", "---", "  "]
    draw = random.Random(pattern)
    for _ in range(200):
        text = "\n".join(draw.choice(lines) for _ in range(draw.randint(0, 60)))
        pieces, at = [], 0
        while at < len(text):
            size = draw.randint(1, 40)
            pieces.append(text[at : at + size])
            at += size
        limit = draw.choice([30, 60, 1000])
        splitter = SmallSplitter(pattern, limit)
        got = [s for piece in pieces for s in splitter.feed(piece)] + list(splitter.finish())
        assert got == whole_text_sections(text, pattern, limit), (text, limit)


def test_a_split_file_is_read_as_a_stream():
    """Sections come out as the text comes in, and one past the limit is not held."""
    endless = itertools.cycle([" = Heading = \n", "a line of its body\n" * 5000])
    splitter = SectionSplitter(r"^ = [^=].* = $", limit=1 << 20)
    sections = (s for piece in endless for s in splitter.feed(piece))
    assert [line for line, _ in itertools.islice(sections, 3)] == [0, 5001, 10002]


def test_a_section_past_the_limit_is_counted_and_not_held(tmp_path):
    body = "a line of a section that never ends\n" * 1_000_000  # 36 MB
    path = tmp_path / "w.txt.gz"
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write(f" = First = \nshort\n = Long = \n{body} = Last = \nshort too\n")
    tracemalloc.start()
    try:
        table, stats = read(path, fmt="text", split_on=r"^ = [^=].* = $", max_record_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert table.column("text").to_pylist() == [" = First = \nshort\n", " = Last = \nshort too\n"]
    assert +stats.errored == {"too_large": 1}
    assert peak < 24 << 20, peak  # reading the file whole held 3 copies of it


def test_ids_are_stable_across_reads(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"doc {n}"}) + "\n" for n in range(5)))
    first, _ = read(path, fmt="jsonl")
    second, _ = read(path, fmt="jsonl")
    assert first.column("id").to_pylist() == second.column("id").to_pylist()
    assert len(set(first.column("id").to_pylist())) == 5


def test_parquet_text_stored_as_binary_large_string_view_or_dictionary_is_read(tmp_path):
    texts = ["first text", "second text", "third text"]
    columns = {
        "large_string": pa.array(texts, pa.large_string()),
        "string_view": pa.array(texts, pa.string_view()),  # were errored missing_text
        "binary_view": pa.array([t.encode() for t in texts], pa.binary_view()),
        "binary": pa.array([t.encode() for t in texts], pa.binary()),
        "large_binary": pa.array([t.encode() for t in texts], pa.large_binary()),
        "dictionary": pa.array(texts).dictionary_encode(),
    }
    for kind, column in columns.items():
        pq.write_table(pa.table({"text": column}), tmp_path / f"{kind}.parquet")
        table, stats = read(tmp_path / f"{kind}.parquet", fmt="parquet")
        assert table.column("text").to_pylist() == texts, kind
        assert +stats.errored == {}, kind
    undecodable = pa.array([b"caf\xe9", b"fine"], pa.binary())
    pq.write_table(pa.table({"text": undecodable}), tmp_path / "latin.parquet")
    table, stats = read(tmp_path / "latin.parquet", fmt="parquet")
    assert table.column("text").to_pylist() == ["fine"]
    assert +stats.errored == {"invalid_utf8": 1}
    # A writer need not check that a string column is UTF-8 (pyarrow's from_buffers does not).
    for kind in (pa.string(), pa.large_string(), pa.string_view()):
        raw = pa.array([b"caf\xe9", b"fine"], pa.binary())
        unchecked = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers()).cast(kind)
        pq.write_table(
            pa.table({"text": unchecked, "url": unchecked}), tmp_path / "unchecked.parquet"
        )
        table, stats = read(tmp_path / "unchecked.parquet", fmt="parquet")
        assert table.column("text").to_pylist() == ["fine"] == table.column("url").to_pylist()
        assert +stats.errored == {"invalid_utf8": 1}, kind


def test_a_huge_jsonl_line_is_skipped_in_linear_time(tmp_path):
    """256 MiB on one line, in a 256 KiB .gz: counted too_large, never assembled (assembling
    it took 15 s for 200 MB, 66 s for 400 MB)."""
    bomb = gzip_bomb(b'{"text": "before"}\n{"text": "', 256 << 20, b'"}\n{"text": "after"}\n')
    (tmp_path / "bomb.jsonl.gz").write_bytes(bomb)
    started = time.perf_counter()
    table, stats = read(tmp_path / "bomb.jsonl.gz", fmt="jsonl", max_record_bytes=1 << 20)
    assert time.perf_counter() - started < 3
    assert table.column("text").to_pylist() == ["before", "after"]
    assert +stats.errored == {"too_large": 1}


def test_ids_are_unique_across_files_and_repeated_input_ids(tmp_path):
    lines = "".join(json.dumps({"id": "7", "text": f"text {n}"}) + "\n" for n in range(3))
    ids, given = [], []
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(lines)
        table, _ = read(tmp_path / name, fmt="jsonl")
        ids += table.column("id").to_pylist()
        given += table.column("source_id").to_pylist()
    assert len(set(ids)) == 6 and given == ["7"] * 6
    content = " = Alpha = \n body \n = Beta = \n more \n"
    (tmp_path / "w.txt").write_text(content)
    (tmp_path / "v.txt").write_text(content)
    first, _ = read(tmp_path / "w.txt", fmt="text", split_on=r"^ = [^=].* = $")
    second, _ = read(tmp_path / "v.txt", fmt="text", split_on=r"^ = [^=].* = $")
    assert len({*first.column("id").to_pylist(), *second.column("id").to_pylist()}) == 4


def test_jsonl_ids_do_not_depend_on_the_lines_around_them(tmp_path):
    """A line's id is its file and line number, whatever else its block holds (a bad line,
    ids of another type), and the id it gives is kept as written."""
    lines = [
        json.dumps({"id": 1, "text": "first"}),
        "{broken",
        json.dumps({"id": 1.5, "text": "second"}),
        json.dumps({"id": "x", "text": "third"}),
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    url = InputFile(InputSpec(source="s", format="jsonl", paths=[str(path)]), str(path), "s").url
    for batch_size in (1, 4):
        spec = InputSpec(source="src", format="jsonl", paths=[str(path)])
        stats = StageStats()
        file = InputFile(spec, str(path), "src-00000")
        table = pa.concat_tables(read_documents(file, stats, batch_size=batch_size))
        assert table.column("id").to_pylist() == [document_id(url, n) for n in (0, 2, 3)]
        assert table.column("source_id").to_pylist() == ["1", "1.5", "x"]


def test_a_cut_or_corrupt_compressed_file_keeps_what_comes_before(tmp_path):
    """Every line (and section) that zlib decompresses whole before the cut is kept, the rest
    is one errored `corrupt_archive` (it stopped the shard)."""
    body = "".join(json.dumps({"text": f"document {n}"}) + "\n" for n in range(200_000))
    packed = gzip.compress(body.encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    table, stats = read(tmp_path / "cut.jsonl.gz", fmt="jsonl", batch_size=4096)
    whole_lines = zlib.decompressobj(31).decompress(packed[: len(packed) // 2]).count(b"\n")
    assert table.num_rows == whole_lines > 90_000
    assert table.column("text").to_pylist() == [f"document {n}" for n in range(table.num_rows)]
    assert stats.errored["corrupt_archive"] == 1
    (tmp_path / "cut.txt.gz").write_bytes(gzip.compress(b"a whole document")[:-12])
    _, stats = read(tmp_path / "cut.txt.gz", fmt="text")
    assert +stats.errored == {"corrupt_archive": 1}
    sections = "".join(f" = Title {n} = \nbody {n}\n" for n in range(400_000)).encode()
    packed = gzip.compress(sections)
    (tmp_path / "cut-split.txt.gz").write_bytes(packed[: len(packed) // 2])
    table, stats = read(
        tmp_path / "cut-split.txt.gz", fmt="text", split_on=r"^ = .* = $", batch_size=4096
    )
    decompressed = zlib.decompressobj(31).decompress(packed[: len(packed) // 2])
    headings = decompressed.count(b" = \nbody")
    assert table.num_rows == headings - 1 > 190_000  # the last one's body was cut
    texts = [f" = Title {n} = \nbody {n}\n" for n in range(table.num_rows)]
    assert table.column("text").to_pylist() == texts
    assert +stats.errored == {"corrupt_archive": 1}


def test_gzip_members_read_as_pythons_gzip_reads_them():
    first, second = gzip.compress(b"first\n"), gzip.compress(b"second\n" * 100_000)
    for data in (first + second, first + b"\0" * 10 + second + b"\0" * 5, gzip.compress(b"")):
        with io.BufferedReader(GzipMembers(io.BytesIO(data))) as handle:
            assert handle.read() == gzip.decompress(data)
    for damaged in (first + second[:-3], first + b"not gzip at all", second[:20]):
        with (
            pytest.raises(DAMAGED_STREAM),
            io.BufferedReader(GzipMembers(io.BytesIO(damaged))) as h,
        ):
            h.read()


def test_a_cut_zstd_file_is_corrupt_archive_too(tmp_path):
    """python-zstandard's reader ends quietly at a cut: the lines before were kept, but the
    rest of the file went uncounted (only its broken last line, as `invalid_json`)."""
    body = b"".join(b'{"text": "document %d"}\n' % n for n in range(100_000))
    packed = zstandard.ZstdCompressor().compress(body)
    (tmp_path / "cut.jsonl.zst").write_bytes(packed[: len(packed) // 2])
    table, stats = read(tmp_path / "cut.jsonl.zst", fmt="jsonl", batch_size=4096)
    assert 10_000 < table.num_rows < 100_000
    assert table.column("text").to_pylist() == [f"document {n}" for n in range(table.num_rows)]
    assert +stats.errored == {"corrupt_archive": 1}
    (tmp_path / "cut.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(b"text " * 999)[:-9])
    _, stats = read(tmp_path / "cut.txt.zst", fmt="text")
    assert +stats.errored == {"corrupt_archive": 1}


def test_zstd_frames_are_walked_to_their_end_without_decompressing():
    """Frames as the zstd tools write them: with and without a checksum or a content size,
    RLE blocks, a skippable frame, several frames; cut anywhere, each is told cut."""
    body = b"".join(b"line %d\n" % n for n in range(200_000))
    streamed = zstandard.ZstdCompressor().compressobj()
    skippable = struct.pack("<II", 0x184D2A53, 5) + b"notes"
    files = [
        zstandard.ZstdCompressor().compress(body),
        zstandard.ZstdCompressor(level=19, write_checksum=True).compress(body),
        streamed.compress(body) + streamed.flush(),  # no content size
        zstandard.ZstdCompressor().compress(b"a" * 5_000_000),  # RLE blocks
        skippable + zstandard.ZstdCompressor().compress(body[:9999]) + skippable,
        zstandard.ZstdCompressor().compress(body[:999]) + zstandard.ZstdCompressor().compress(body),
    ]
    for data in files:
        assert not zstd_is_cut(io.BytesIO(data))
        for cut in (1, 2, 4, 5, len(data) // 3, len(data) - 4, len(data) - 1):
            assert zstd_is_cut(io.BytesIO(data[:cut])), (len(data), cut)


def flipped(data: bytes, at: int, count: int = 1) -> bytes:
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + count]) + data[at + count :]


@pytest.mark.parametrize(
    ("name", "compress", "at"),
    [
        ("block.jsonl.gz", gzip.compress, 10),
        ("block.txt.gz", gzip.compress, 10),
        ("mid.jsonl.xz", lzma.compress, 100),
    ],
)
def test_a_damaged_block_is_corrupt_archive_not_a_failed_shard(tmp_path, name, compress, at):
    """isal's error for a deflate block it cannot decode (fsspec reads gzip through isal)
    and xz's LZMAError are neither OSError nor zlib's: each failed the whole shard, and
    every rerun again."""
    (tmp_path / name).write_bytes(flipped(compress(b'{"text": "a document"}\n' * 1000), at))
    table, stats = read(tmp_path / name, fmt=name.split(".")[1].replace("txt", "text"))
    assert +stats.errored == {"corrupt_archive": 1}
    assert stats.docs_in == (table.num_rows if table else 0) + 1


@pytest.mark.parametrize("fmt", ["jsonl", "text"])
def test_a_zip_of_several_files_or_a_cut_zip_is_counted(tmp_path, fmt):
    """A later file of a glob (the first is checked before work): a zip of two files was
    read as its first alone, the second's documents dropped without a word; a cut zip
    failed its shard (BadZipFile), and every rerun again."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.jsonl", '{"text": "one"}\n')
        archive.writestr("b.jsonl", '{"text": "two"}\n')
    _, stats = read(tmp_path / "two.zip", fmt=fmt)
    assert (stats.docs_in, +stats.errored) == (1, {"archive_of_files": 1})
    (tmp_path / "cut.zip").write_bytes((tmp_path / "two.zip").read_bytes()[:60])
    _, stats = read(tmp_path / "cut.zip", fmt=fmt)
    assert (stats.docs_in, +stats.errored) == (1, {"corrupt_archive": 1})
    with zipfile.ZipFile(tmp_path / "one.zip", "w") as archive:
        archive.writestr("a.jsonl", '{"text": "one"}\n{"text": "two"}\n')
    table, stats = read(tmp_path / "one.zip", fmt=fmt)
    assert table.num_rows == (2 if fmt == "jsonl" else 1) and not stats.errored


def test_a_damaged_parquet_row_group_costs_only_its_rows(tmp_path):
    texts = [f"text number {n} " * 20 for n in range(300)]
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=100, compression="zstd")
    column = pq.ParquetFile(path).metadata.row_group(1).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    table, stats = read(path, fmt="parquet")
    assert table.column("text").to_pylist() == texts[:100] + texts[200:]
    assert +stats.errored == {"corrupt_row_group": 100}


def test_a_file_a_server_answers_503_is_tried_again_not_left_out(
    http_folder, monkeypatch, tmp_path
):
    """Common Crawl's server answers 503 under load. A glob's file whose look-up got one was
    left out of the run, and one whose reading got one was an errored `missing_file`: both
    without a word, exit 0. Each is now tried again after a pause, then fails its shard. A
    manifest or a listing is tried again too; one refused for good (403) is one line."""
    from aiohttp import ClientResponseError

    from pipeline.inputs import resolve_inputs
    from pipeline.plan import shard_plans
    from pipeline.schema import ConfigError
    from pipeline.shard import process_shard_retried
    from tests.conftest import job

    monkeypatch.setattr("pipeline.transient.RETRY_DELAYS_S", (0.0, 0.0))
    folder, url, refusals = http_folder
    for name in ("a", "b"):
        write_warc(folder / f"{name}.warc.gz", [page_record(n) for n in range(3)])
    inputs = [{"source": "web", "format": "warc", "paths": [f"{url}/*.warc.gz"]}]
    config = job(tmp_path / "out", inputs, [{"extract": {}}])
    refusals["/b.warc.gz"] = [503] * 2  # a look-up asks twice (HEAD, then GET)
    files = resolve_inputs(config)
    assert [file.path for file in files] == [f"{url}/a.warc.gz", f"{url}/b.warc.gz"]
    [plan] = shard_plans(config)
    refusals["/b.warc.gz"] = [503] * 2
    second = InputShard(files[1].shard, (files[1],))
    result = process_shard_retried(second, plan)
    read = result.funnel.stages["read"]
    assert (read.kept, read.errored) == (3, {}) and refusals["/b.warc.gz"] == []
    size = (folder / "b.warc.gz").stat().st_size  # no sha256: a second download of the file
    assert result.inputs == {files[1].path: {"size": size, "last_modified": ANY}}
    refusals["/b.warc.gz"] = [503] * 6  # three tries of two requests each
    with pytest.raises(FileNotFoundError) as raised:
        process_shard_retried(second, plan)
    assert isinstance(raised.value.__cause__, ClientResponseError)
    assert raised.value.__cause__.status == 503
    (folder / "warc.paths").write_text("a.warc.gz\nb.warc.gz\n")
    listed = [{**inputs[0], "paths": [f"{url}/warc.paths"], "manifest_base": url}]
    refusals["/warc.paths"] = [503] * 2  # was a traceback
    listing = resolve_inputs(job(tmp_path / "out", listed, [{"extract": {}}]))
    assert [file.path for file in listing] == [file.path for file in files]
    refusals["/warc.paths"] = [503] * 6
    with pytest.raises(ConfigError, match=r"manifest '.*/warc.paths' could not be read: 503"):
        resolve_inputs(job(tmp_path / "out", listed, [{"extract": {}}]))
    refusals["/"] = [403]  # a refusal that does not pass: one line at once, not a traceback
    with pytest.raises(
        ConfigError, match=r"^inputs\[0\]\.paths: '.*/\*\.warc\.gz' could not be read: 403"
    ):
        resolve_inputs(config)
