"""The WET reader (Common Crawl's extracted text), checked against fastwarc's own reading of
the same file, and WET files through a run without an `extract` stage."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from support.warcs import conversion_record, page_record, warcinfo_record, write_warc
from tests.conftest import funnel, job, read_documents, run
from tests.test_readers import read, urls

TEXTS = [
    "Stadtrat beschließt neuen Haushalt\nDie Sitzung dauerte bis in den Abend.",
    "火曜日に委員会が開かれた。\n予算が承認された。",
    "The committee met on Tuesday.\n\nIt approved the budget.\n",
]


def wet_file(path, gzipped=True):
    records = [warcinfo_record(path.name)]
    records += [conversion_record(n, text.encode()) for n, text in enumerate(TEXTS)]
    records.append(conversion_record(10, b" \n "))
    records.append(conversion_record(11, "caf\xe9".encode("latin-1")))
    records.append(page_record(12))
    return write_warc(path, records, gzipped)


def fastwarc_conversions(path) -> list[dict]:
    """Each conversion record as fastwarc frames and reads it, for comparison."""
    with open(path, "rb") as handle:
        return [
            {
                "url": record.headers["WARC-Target-URI"],
                "warc_record_id": record.headers["WARC-Refers-To"],
                "crawl_date": record.record_date,
                "text": record.reader.read().decode("utf-8", "replace"),
            }
            for record in ArchiveIterator(handle, record_types=WarcRecordType.conversion)
        ]


@pytest.mark.parametrize("gzipped", [True, False])
def test_conversion_records_become_documents_with_their_text_and_response_id(tmp_path, gzipped):
    path = wet_file(tmp_path / "CC-MAIN-x.warc.wet.gz", gzipped)
    table, stats = read(path, fmt="wet")
    expected = fastwarc_conversions(path)[: len(TEXTS)]
    got = table.select(["url", "warc_record_id", "crawl_date", "text"]).to_pylist()
    assert got == expected
    assert [row["text"] for row in got] == TEXTS
    assert urls(table) == ["0", "1", "2"]
    assert table.column("crawl_date")[0].as_py() == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert stats.docs_in == 6  # warcinfo is not counted
    assert stats.removed == {"empty_text": 1, "not_conversion": 1}
    assert stats.errored == {"invalid_utf8": 1}
    assert stats.bytes_kept == sum(len(text.encode()) for text in TEXTS)


def test_a_wet_file_is_curated_without_an_extract_stage(local_ray, tmp_path):
    path = wet_file(tmp_path / "CC-MAIN-x.warc.wet.gz")
    out = tmp_path / "out"
    inputs = [{"source": "cc", "format": "wet", "paths": [str(path)]}]
    summary = run(job(out, inputs, [{"dedup": {"exact": True}}]))
    assert funnel(summary)["read"]["kept"] == len(TEXTS)
    assert sorted(row["text"] for row in read_documents(out)) == sorted(TEXTS)


def test_a_wet_paths_manifest_lists_wet_files_against_its_base(tmp_path):
    from pipeline.inputs import resolve_inputs

    (tmp_path / "crawl").mkdir()
    path = wet_file(tmp_path / "crawl" / "CC-MAIN-x.warc.wet.gz")
    manifest = tmp_path / "wet.paths.gz"
    manifest.write_bytes(gzip.compress(b"crawl/CC-MAIN-x.warc.wet.gz\n"))
    spec = {
        "source": "cc",
        "format": "wet",
        "paths": [str(manifest)],
        "manifest_base": str(tmp_path),
    }
    files = resolve_inputs(job(tmp_path / "out", [spec]))
    assert [file.path for file in files] == [str(path)]
