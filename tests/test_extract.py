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


KOREAN = "어제 저녁 시내 중심가에서 콘서트가 열려 수천 명이 모였습니다."


@pytest.mark.parametrize(
    ("text", "encoding", "meta"),
    [
        (KOREAN, "euc-kr", '<meta charset="euc-kr">'),
        (KOREAN, "euc-kr", '<meta http-equiv="Content-Type" content="text/html; charset=EUC-KR">'),
        (ACCENTED, "cp1252", '<meta charset="utf-8">'),  # mislabelled: passed over
        (ACCENTED, "cp1252", '<meta charset="no-such-charset">'),
    ],
)
def test_a_meta_charset_is_read_where_the_http_header_has_none(text, encoding, meta):
    """uchardet takes a short EUC-KR page for UTF-8 (mojibake before the meta was read)."""
    page = f"<html><head>{meta}<title>t</title></head><body><p>{text}</p></body></html>"
    assert text in decode_html(page.encode(encoding), None)


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
    assert verdict.table["html"][0].as_py() == page  # the runner drops it when unread


def test_documents_without_html_pass_through():
    table = pa.table({"id": ["a"], "text": ["already text"]})
    verdict = Extract(Extract.Params()).process(table)
    assert verdict.table.equals(table) and verdict.removed is None
