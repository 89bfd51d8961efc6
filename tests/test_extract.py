import pyarrow as pa
import pytest

from pipeline.extract import Extract, decode_html
from support.warcs import html_page

ACCENTED = "Le café de la gare ouvre à l'aube; les élèves révisent leurs leçons."


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [
        ("utf-8", "utf-8"),
        ("iso-8859-1", "iso-8859-1"),
        ("iso-8859-1", "utf-8"),  # mislabelled: latin-1 bytes said to be UTF-8
        ("utf-8", "iso-8859-1"),  # mislabelled the other way
        ("cp1252", None),
        ("utf-8", "no-such-charset"),
    ],
)
def test_charsets_are_decoded_whatever_the_label(encoding, declared):
    body = html_page("Gare", body=f"<p>{ACCENTED}</p>", lang="fr").encode(encoding)
    assert ACCENTED in decode_html(body, declared)


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [("utf-8", "iso-8859-1"), ("iso-8859-1", "utf-8"), ("cp1252", None)],
)
def test_the_tokenmill_engine_reads_utf8_bytes_as_utf8_and_the_rest_decoded(encoding, declared):
    body = html_page("Gare", body=f"<p>{ACCENTED}</p>", lang="fr").encode(encoding)
    table = batch([body]).set_column(2, "charset", pa.array([declared], pa.string()))
    verdict = Extract(Extract.Params(engine="tokenmill")).process(table)
    assert ACCENTED in verdict.table.column("text")[0].as_py()


def batch(pages: list[bytes]) -> pa.Table:
    return pa.table(
        {
            "id": [str(n) for n in range(len(pages))],
            "html": pa.array(pages, pa.binary()),
            "charset": pa.array([None] * len(pages), pa.string()),
        }
    )


@pytest.mark.parametrize("engine", ["tokenmill", "resiliparse", "trafilatura"])
def test_extraction_keeps_the_article_and_drops_the_frame(engine):
    page = html_page("Library wing", paragraphs=4).encode()
    script_only = b"<html><body><script>var x = 1;</script></body></html>"
    garbage = b"\x00\xff\xfe<<" * 50
    verdict = Extract(Extract.Params(engine=engine)).process(
        batch([page, b"", script_only, garbage])
    )
    text = verdict.table.column("text").to_pylist()
    assert "reading rooms should open" in text[0]
    assert "Copyright 2024" not in text[0]
    assert "\n" in text[0].strip()  # paragraphs stay apart
    assert verdict.removed.to_pylist()[1:3] == ["empty_text", "empty_text"]
    assert verdict.errored.to_pylist() == [None] * 4
    assert "html" not in verdict.table.column_names


def test_documents_without_html_pass_through():
    table = pa.table({"id": ["a"], "text": ["already text"]})
    verdict = Extract(Extract.Params()).process(table)
    assert verdict.table.equals(table) and verdict.removed is None
