import json

import pytest

from pipeline.cli import main
from pipeline.engines import ENGINES
from pipeline.extraction_eval import evaluate, load_truth, shingle_overlap
from pipeline.maintext import extract_main_text
from pipeline.schema import ConfigError
from support.warcs import PARAGRAPH, html_page, page_record, write_warc

URL = "https://news.example.com/story/{}"

ARTICLE = f"""<!doctype html><html><head><title>Tide tables</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/sea">Sea</a></li></ul></nav></header>
<div id="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<main><article>
  <h1>Tide tables move online</h1>
  <div class="byline">By Ann Smith, 3 March 2024</div>
  <p>{PARAGRAPH}</p>
  <p>The harbour office said the printed tables would stay on sale, but only until the end
  of the season, after which sailors should check the website every morning.</p>
  <ul><li>High water at 06:12 on Monday</li><li>Low water at 12:30 on Monday</li></ul>
  <table><tr><th>Day</th><th>High</th></tr><tr><td>Monday</td><td>06:12</td></tr></table>
  <div class="share-buttons"><a href="#">Share on Facebook</a> <a href="#">Tweet this</a></div>
</article>
<section class="comments"><h3>3 comments</h3><p>Great news, finally! I always lost my
printed tables on the boat, said a reader who signed as Captain Haddock.</p></section>
<div class="related-posts"><h3>Related</h3><ul><li><a href="/a">Storm warning lifted</a></li>
<li><a href="/b">New ferry timetable</a></li></ul></div>
</main>
<footer><p>Impressum · Datenschutz · Copyright 2024 Harbour News</p></footer>
</body></html>"""


def test_the_engine_keeps_the_article_and_drops_the_frame():
    text = extract_main_text(ARTICLE)
    lines = text.split("\n")
    assert lines[0] == "Tide tables move online"  # the title stays, on its own line
    assert PARAGRAPH in lines
    assert "• High water at 06:12 on Monday" in lines
    assert any("Monday" in line and "06:12" in line and "|" in line for line in lines)
    for boilerplate in (
        "Home",
        "cookies",
        "Share on Facebook",
        "Captain Haddock",
        "Storm warning",
        "Impressum",
    ):
        assert boilerplate not in text, boilerplate


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html></html>",
        "<html><body></body></html>",
        "<p>only one short line</p>",
        "\x00\ufffd<<>>" * 100,
        "<div>" * 3000 + "deep text " * 10 + "</div>" * 3000,
        "<table>" + "<tr><td>x</td>" * 5000 + "</table>",
        "<script>var a = '<p>not text</p>';</script>",
    ],
)
def test_the_engine_never_raises_on_odd_html(html):
    assert isinstance(extract_main_text(html), str)


def test_deeply_nested_text_is_found():
    html = "<body>" + "<div>" * 5000 + f"<p>{PARAGRAPH}</p>" + "</div>" * 5000 + "</body>"
    assert PARAGRAPH in extract_main_text(html)


def test_shingle_overlap():
    assert shingle_overlap("a b c d e", "a b c d e") == (1.0, 1.0, 1.0)
    precision, recall, f1 = shingle_overlap("A b c d e f", "a b c d")
    assert (precision, recall) == (1 / 3, 1.0) and f1 == pytest.approx(0.5)
    assert shingle_overlap("", "a b c d") == (0.0, 0.0, 0.0)


@pytest.fixture
def warc(tmp_path):
    pages = [html_page(f"Story number {n}", paragraphs=3).encode() for n in range(3)]
    pages[2] = ARTICLE.encode()
    return write_warc(tmp_path / "eval.warc.gz", [page_record(n, p) for n, p in enumerate(pages)])


def test_snippet_schema_counts_found_and_avoided(tmp_path, warc):
    truth = {
        URL.format(0) + " ": {
            "with": ["reading rooms  SHOULD open"],
            "without": ["Copyright 2024"],
        },
        URL.format(2): {
            "with": ["High water at 06:12"],
            "without": ["Captain Haddock", "Tweet this"],
        },
        URL.format(9): {"with": ["never crawled"], "without": []},
    }
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(truth))
    scores, missing = evaluate(str(warc), load_truth(path), ["tokenmill", "resiliparse"])
    assert missing == 1
    ours = scores["tokenmill"]
    assert (ours.pages, ours.errors) == (2, 0)
    assert (ours.with_found, ours.with_total) == (2, 2)
    assert (ours.without_avoided, ours.without_total) == (3, 3)
    assert scores["resiliparse"].without_avoided < 3  # it keeps the comments or share bar


def test_text_schema_scores_shingles(tmp_path, warc):
    reference = extract_main_text(ARTICLE)
    path = tmp_path / "truth.json"
    path.write_text(
        json.dumps({URL.format(2): reference, URL.format(1): "nothing alike here at all"})
    )
    scores, _ = evaluate(str(warc), load_truth(path), ["tokenmill"])
    assert sorted(scores["tokenmill"].f1) == [0.0, 1.0]


def test_eval_command_names_the_reference(tmp_path, warc, capsys):
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({URL.format(0): {"with": ["library wing"], "without": ["Home"]}}))
    assert main(["eval-extraction", str(warc), str(path), "--engine", "tokenmill"]) == 0
    out = capsys.readouterr().out
    assert "tokenmill" in out and "100.00" in out
    assert "trafilatura.extract(include_comments=False, include_tables=True)" in out


def test_a_warc_with_none_of_the_truths_pages_is_a_config_error(tmp_path, warc, capsys):
    """A table of 0 pages and exit 0, for a missing file or the truth file given twice."""
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({URL.format(9): "never crawled"}))
    for other in (str(path), str(tmp_path / "gone.warc.gz")):
        assert main(["eval-extraction", other, str(path), "--engine", "tokenmill"]) == 2
    said = capsys.readouterr().err.replace("\n", "")
    assert f"config error: {path}: none of the 1 pages {path} knows is in it" in said
    assert said.endswith(f"config error: {tmp_path / 'gone.warc.gz'}: not found")


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '{"u": 3}', '{"u": {"with": "x"}}'])
def test_a_bad_truth_file_names_itself(tmp_path, content):
    path = tmp_path / "truth.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=r"truth\.json"):
        load_truth(path)


def test_the_engine_never_raises_on_the_shared_warcs(corpora):
    from pipeline.extraction_eval import pages_with_truth

    for warc in sorted((corpora / "web").glob("*.warc.gz")):
        everything = _AllUrls()
        for _, html in pages_with_truth(str(warc), everything):
            assert isinstance(ENGINES["tokenmill"](html), str)


class _AllUrls(dict):
    def __contains__(self, url: object) -> bool:
        return True


OUR_SHARES = (0.9463, 0.8971)
"""The tokenmill engine's `with` found and `without` avoided on the whole set on 2026-12-02
(benchmarks/RESULTS.md); trafilatura 2.3.1 scores 0.9470 and 0.8989 there (too slow to rerun
here). A change that loses half a point fails."""
MARGIN = 0.005


def test_quality_holds_what_it_reached(corpora):
    web = corpora / "web"
    truth = load_truth(web / "trafilatura-evaldata.json")
    scores, missing = evaluate(str(web / "trafilatura-eval.warc.gz"), truth, ["tokenmill"])
    ours = scores["tokenmill"]
    assert (ours.pages, ours.errors, missing) == (len(truth), 0, 0)
    assert ours.with_share >= OUR_SHARES[0] - MARGIN
    assert ours.without_share >= OUR_SHARES[1] - MARGIN
