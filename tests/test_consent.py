"""The consent stage: AI opt-out signals and licences, and the raw columns it reads."""

from __future__ import annotations

import time
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType
from warcio.archiveiterator import ArchiveIterator as ArchiveIteratorOfWarcio

from filters.consent import robots
from filters.consent.page_signals import MARKERS, license_id, page_signals, worth_parsing
from filters.consent.robots import read_robots_rules
from filters.consent.stage import AI_AGENTS, Consent
from pipeline.config import ConfigError
from pipeline.documents import RAW_COLUMNS
from pipeline.extract import Extract
from pipeline.inputs import input_shards, resolve_inputs
from pipeline.plan import shard_plans
from pipeline.sandbox import sandboxed
from pipeline.shard import process_shard, unread_raw_columns
from support.consent_reference import whole_page_signals
from support.warcs import html_page, http_response, page_record, warc_record, write_warc
from tests.conftest import ROOT, funnel, job, read_documents, run

AGENTS = frozenset({"gptbot", "ccbot"})


def page(head: str = "", body: str = "") -> bytes:
    return (
        f"<html><head><title>t</title>{head}</head><body><p>Some text.</p>{body}</body></html>"
    ).encode()


@pytest.mark.parametrize(
    ("url", "spdx"),
    [
        ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
        ("http://creativecommons.org/licenses/by-sa/3.0/de/", "CC-BY-SA-3.0-DE"),
        ("//creativecommons.org/licenses/by-nc-nd/4.0/deed.de", "CC-BY-NC-ND-4.0"),
        ("https://www.creativecommons.org/licenses/by-nc/2.0", "CC-BY-NC-2.0"),
        ("https://creativecommons.org/licenses/by-nd-nc/1.0/", "CC-BY-NC-ND-1.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
        ("https://creativecommons.org/publicdomain/mark/1.0/", "CC-PDM-1.0"),
        ("HTTP://CREATIVECOMMONS.ORG/PUBLICDOMAIN/ZERO/1.0/", "CC0-1.0"),
        ("http://creativecommons.org/licenses/publicdomain/", "CC-PDDC"),
        ("https://creativecommons.org/licenses/by-sa/", "CC-BY-SA"),
        ("HTTPS://CreativeCommons.org/Licenses/BY/4.0/?ref=chooser", "CC-BY-4.0"),
        ("https://creativecommons.org/", None),
        ("https://creativecommons.org/licenses/sampling+/1.0/", None),
        ("https://example.com/licenses/by/4.0/", None),
        ("https://www.gnu.org/licenses/fdl-1.3.html", None),
        ("/license", None),
    ],
)
def test_creative_commons_urls_become_spdx_ids(url, spdx):
    assert license_id(url) == spdx


def test_the_http_headers_signals():
    def signals(*headers):
        return page_signals(None, list(headers), AGENTS)

    assert signals(("X-Robots-Tag", "noai, noimageai")).opt_outs == ["noai_header"]
    assert signals(("x-robots-tag", "GPTBot: noai")).opt_outs == ["noai_header"]
    assert signals(("X-Robots-Tag", "googlebot: noai")).opt_outs == []  # not an AI agent
    assert signals(("X-Robots-Tag", "noindex, nofollow")).opt_outs == []
    assert signals(("X-Robots-Tag", "unavailable_after: 25 Jun 2030, noai")).opt_outs == [
        "noai_header"
    ]
    assert signals(("TDM-Reservation", "1")).opt_outs == ["tdm_reserved"]
    assert signals(("tdm-reservation", "0")).opt_outs == []
    both = signals(("X-Robots-Tag", "noai"), ("tdm-reservation", "1"))
    assert both.opt_outs == ["tdm_reserved", "noai_header"]  # strongest first
    link = '<https://creativecommons.org/licenses/by-sa/4.0/>; rel="license"'
    assert signals(("Link", link)).license == "CC-BY-SA-4.0"
    styles = '<https://example.com/a.css>; rel="stylesheet"'
    assert signals(("Link", styles)).license is None
    assert signals(("Link", f"{styles}, {link}")).license == "CC-BY-SA-4.0"


def test_the_html_signals():
    def signals(head="", body=""):
        return page_signals(page(head, body), [], AGENTS)

    assert signals('<meta name="Robots" content="NOAI, noimageai">').opt_outs == ["noai_meta"]
    assert signals('<meta name="GPTBot" content="noai">').opt_outs == ["noai_meta"]
    assert signals('<meta name="googlebot" content="noai">').opt_outs == []
    assert signals('<meta name="robots" content="index, follow">').opt_outs == []
    assert signals('<meta name="tdm-reservation" content="1">').opt_outs == ["tdm_reserved"]
    anchor = '<a rel="nofollow license" href="https://creativecommons.org/licenses/by/4.0/">cc</a>'
    assert signals(body=anchor).license == "CC-BY-4.0"
    first = (
        '<meta name="dcterms.license" content="https://creativecommons.org/publicdomain/zero/1.0/">'
    )
    assert signals(first, anchor).license == "CC0-1.0"  # the first in the page
    unlabelled = '<a href="https://creativecommons.org/licenses/by/4.0/">licensed</a>'
    assert signals(body=unlabelled).license is None  # a link, not the page's licence
    assert signals(body="<p>See the license: noai tdm-reservation 1</p>").opt_outs == []


def test_hostile_pages_cost_a_few_scans_not_a_parse():
    """A parse of the whole of the first page takes lexbor about two minutes. The second
    holds 400,000 tags with a marker in them: the first 1,024 are looked at, so the licence
    after them is not found, but the page costs milliseconds, not a parse of each tag."""
    cc_by = '<a rel="license" href="https://creativecommons.org/licenses/by/4.0/">cc</a>'
    nested = page(body="<div>" * 200_000 + "license" + "</div>" * 200_000 + cc_by)
    buried = page(body="<p license" * 400_000 + cc_by)
    for html, found in ((nested, "CC-BY-4.0"), (buried, None)):
        started = time.perf_counter()
        assert page_signals(html, [], AGENTS).license == found
        assert time.perf_counter() - started < 2


def test_only_pages_holding_a_marker_are_worth_parsing():
    pages = [page(), page('<meta name="robots" content="NoAI">'), page(body="LICENSE"), None]
    assert worth_parsing(pa.chunked_array([pages], pa.binary())).tolist() == [
        False,
        True,
        True,
        False,
    ]


def robots_capture(host: str, rules: str, status: str = "200 OK") -> bytes:
    body = http_response(rules.encode(), "text/plain", status)
    return warc_record(body, f"http://{host}/robots.txt")


def test_robots_txt_captures_say_which_agents_may_fetch(tmp_path):
    captures = [
        robots_capture("news.example.com", "User-agent: GPTBot\nDisallow: /\n"),
        robots_capture("news.example.com", "User-agent: *\nDisallow: /\n"),  # a later capture
        robots_capture("shop.example.com", "User-agent: *\nDisallow: /cart\n"),
        robots_capture("gone.example.com", "User-agent: *\nDisallow: /\n", "503 Unavailable"),
    ]
    write_warc(tmp_path / "robots-1.warc.gz", captures)
    rules = read_robots_rules((str(tmp_path / "robots-*.warc.gz"),))
    agents = ("GPTBot", "CCBot")
    assert rules.disallowing("https://news.example.com/story/1", agents) == ["GPTBot"]
    assert rules.disallowing("https://shop.example.com/cart/7", agents) == ["GPTBot", "CCBot"]
    assert rules.disallowing("https://shop.example.com/item/7", agents) == []
    assert rules.disallowing("https://gone.example.com/a", agents) == []  # said nothing
    assert rules.disallowing("https://other.example.com/a", agents) == []
    assert rules.disallowing(None, agents) == []
    assert rules.disallowing("http://[::1/broken", agents) == []


def test_only_the_hosts_last_asked_keep_their_parsed_rules(monkeypatch):
    monkeypatch.setattr(robots, "PARSED_HOSTS", 2)
    rules = robots.RobotsRules(
        {f"h{n}.example": "User-agent: GPTBot\nDisallow: /\n" for n in range(3)}
    )
    for n in (0, 1, 2, 0):
        assert rules.disallowing(f"https://h{n}.example/a", ("GPTBot",)) == ["GPTBot"]
    assert list(rules._parsed) == ["h2.example", "h0.example"]


def test_robots_files_that_cannot_be_read_are_named(tmp_path):
    missing = str(tmp_path / "none-*.warc.gz")
    with pytest.raises(ValueError, match=r"none-.*matches no file"):
        read_robots_rules((missing,))
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=f"{broken.name}: not a readable WARC"):
        read_robots_rules((str(broken),))
    pages = write_warc(tmp_path / "pages.warc.gz", [page_record(1)])
    with pytest.raises(ValueError, match=r"pages\.warc\.gz: no robots\.txt capture"):
        read_robots_rules((str(pages),))


def batch(pages: list[bytes], urls: list[str], headers: list | None = None) -> pa.Table:
    return pa.table(
        {
            "id": [str(n) for n in range(len(pages))],
            "url": urls,
            "html": pa.array(pages, pa.binary()),
            "http_headers": pa.array(
                headers or [[] for _ in pages], pa.map_(pa.string(), pa.string())
            ),
        }
    )


def test_annotate_labels_and_counts_and_filter_removes_by_the_strongest_signal(tmp_path):
    write_warc(
        tmp_path / "robots.warc.gz",
        [robots_capture("a.example", "User-agent: CCBot\nDisallow: /private/\n")],
    )
    cc_by = '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">'
    cc_nc = '<link rel="license" href="https://creativecommons.org/licenses/by-nc/4.0/">'
    table = batch(
        [
            page(cc_by),
            page('<meta name="robots" content="noai">'),
            page(cc_nc),
            page(),
            page(cc_by),
        ],
        [f"https://a.example/{path}" for path in ("1", "2", "3", "4", "private/5")],
        [[], [("tdm-reservation", "1")], [], [], []],
    )
    robots = [str(tmp_path / "robots.warc.gz")]
    verdict = Consent(Consent.Params(robots=robots)).process(table)
    assert verdict.table["ai_opt_out"].to_pylist() == [
        None,
        "tdm_reserved,noai_meta",
        None,
        None,
        "robots_disallowed",
    ]
    assert verdict.table["license"].to_pylist() == [
        "CC-BY-4.0",
        None,
        "CC-BY-NC-4.0",
        None,
        "CC-BY-4.0",
    ]
    assert verdict.removed.null_count == 5
    assert verdict.counters == {
        "opt_out.tdm_reserved": 1,
        "opt_out.noai_meta": 1,
        "opt_out.robots_disallowed": 1,
        "license.CC-BY-4.0": 2,
        "license.CC-BY-NC-4.0": 1,
    }
    params = Consent.Params(mode="filter", robots=robots, licenses=["cc-by", "CC0"])
    verdict = Consent(params).process(table)
    assert verdict.removed.to_pylist() == [
        None,
        "tdm_reserved",
        "license_not_kept",
        "license_not_kept",
        "robots_disallowed",
    ]
    assert verdict.details.to_pylist()[1:] == [
        "tdm_reserved,noai_meta",
        "CC-BY-NC-4.0 not in licenses",
        "no licence not in licenses",
        "robots.txt disallows CCBot",
    ]


def test_documents_without_pages_are_judged_by_their_url_alone(tmp_path):
    write_warc(
        tmp_path / "robots.warc.gz", [robots_capture("b.example", "User-agent: *\nDisallow: /\n")]
    )
    table = pa.table(
        {
            "id": ["1", "2", "3"],
            "url": ["https://b.example/x", "https://c.example/", None],
            "text": ["a", "b", "c"],
        }
    )
    params = Consent.Params(mode="filter", robots=[str(tmp_path / "robots.warc.gz")])
    verdict = Consent(params).process(table)
    assert verdict.removed.to_pylist() == ["robots_disallowed", None, None]
    assert verdict.table["license"].null_count == 3


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (
            {"consent": {"licenses": ["CC-BY"]}},
            "licenses: keeps documents only with `mode: filter`",
        ),
        ({"consent": {"mode": "filter", "licenses": ["MIT"]}}, "MIT: not a Creative Commons"),
        ({"consent": {"agents": ["GPTBot: noai"]}}, "not a user agent name"),
        ({"consent": {"mode": "block"}}, "stages.consent.mode"),
        (
            {"consent": {"robots": ["/nowhere/*.warc.gz"]}},
            "stages.consent.robots: .*matches no file",
        ),
    ],
)
def test_bad_consent_params_name_their_key(tmp_path, stage, message):
    inputs = [{"source": "web", "format": "warc", "paths": [str(tmp_path / "*.warc.gz")]}]
    write_warc(tmp_path / "a.warc.gz", [page_record(1)])
    with pytest.raises(ConfigError, match=message):
        job(tmp_path / "out", inputs, [{"extract": {}}, stage])


def test_consent_after_a_global_stage_is_refused_for_web_pages(tmp_path):
    write_warc(tmp_path / "a.warc.gz", [page_record(1)])
    warc = [{"source": "web", "format": "warc", "paths": [str(tmp_path / "a.warc.gz")]}]
    stages = [{"extract": {}}, {"dedup": {}}, {"consent": {}}]
    with pytest.raises(
        ConfigError,
        match="`consent` must come before `dedup`: it reads the fetched pages' html and http_headers",
    ):
        job(tmp_path / "out", warc, stages)
    (tmp_path / "a.jsonl").write_text('{"text": "x", "url": "https://a.example/"}\n')
    lines = [{"source": "text", "format": "jsonl", "paths": [str(tmp_path / "a.jsonl")]}]
    job(tmp_path / "out", lines, stages[1:])  # URLs are all it reads there


def test_raw_columns_are_dropped_after_the_last_stage_that_reads_them(tmp_path):
    write_warc(tmp_path / "a.warc.gz", [page_record(1)])
    warc = [{"source": "web", "format": "warc", "paths": [str(tmp_path / "a.warc.gz")]}]
    stages = [{"extract": {}}, {"language": {}}, {"consent": {}}, {"quality": {}}]
    [plan] = shard_plans(job(tmp_path / "out", warc, stages))
    assert unread_raw_columns(plan.stages) == [
        (),
        ("charset",),
        ("charset",),
        RAW_COLUMNS,
        RAW_COLUMNS,
    ]
    [plan] = shard_plans(job(tmp_path / "out", warc, stages[:2]))
    assert unread_raw_columns(plan.stages) == [("http_headers",), RAW_COLUMNS, RAW_COLUMNS]


def test_extract_s_child_sends_back_no_html_that_no_later_stage_reads():
    table = batch([page(), page()], ["https://a.example/1", "https://a.example/2"])
    table = table.append_column("charset", pa.array([None, None], pa.string()))
    params = Extract.Params(timeout=30)
    kept = sandboxed(Extract, params).process(table).table
    assert {"html", "charset", "http_headers"} <= set(kept.column_names)
    trimmed = sandboxed(Extract, params, leaves_out=RAW_COLUMNS).process(table).table
    assert not set(RAW_COLUMNS) & set(trimmed.column_names)
    assert trimmed["text"].to_pylist() == kept["text"].to_pylist()


def test_a_shard_s_pages_are_judged_after_extraction_and_never_written(tmp_path):
    noai = html_page("Kept from training", paragraphs=6).replace(
        "<head>", '<head><meta name="robots" content="noai">'
    )
    licensed = html_page("Shared", paragraphs=6).replace(
        "</article>",
        '</article><a rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/">cc</a>',
    )
    records = [
        page_record(1, noai.encode()),
        page_record(2, licensed.encode()),
        page_record(3, headers={"X-Robots-Tag": "GPTBot: noai"}),
        page_record(4),
    ]
    write_warc(tmp_path / "a.warc.gz", records)
    warc = [{"source": "web", "format": "warc", "paths": [str(tmp_path / "a.warc.gz")]}]
    stages = [{"extract": {}}, {"consent": {"mode": "filter"}}]
    config = job(tmp_path / "out", warc, stages, keep_removed=True)
    [shard] = input_shards(resolve_inputs(config))
    [plan] = shard_plans(config)
    result = process_shard(shard, plan)
    stats = result.funnel.stages["consent"]
    assert stats.docs_in == 4 and stats.kept == 2 and stats.conserved()
    assert stats.removed == {"noai_meta": 1, "noai_header": 1}
    kept = read_documents(tmp_path / "out")
    assert [(d["url"][-1], d["license"], d["ai_opt_out"]) for d in kept] == [
        ("2", "CC-BY-SA-4.0", None),
        ("4", None, None),
    ]
    written = pq.read_schema(next((tmp_path / "out" / "documents").glob("*.parquet")))
    assert not set(RAW_COLUMNS) & set(written.names)
    removed = read_documents(tmp_path / "out", "removed")
    assert sorted(d["reason"] for d in removed) == ["noai_header", "noai_meta"]


def test_signals_on_real_pages_match_a_reading_of_the_whole_page(corpora):
    """On the 949 trafilatura-eval pages: the licence and the opt-outs each page declares, as
    lxml's parse of the whole page finds them."""
    licensed = 0
    for record in ArchiveIterator(
        open(corpora / "web" / "trafilatura-eval.warc.gz", "rb"),  # noqa: SIM115
        record_types=WarcRecordType.response,
    ):
        html = record.reader.read()
        worth = worth_parsing(pa.chunked_array([[html]], pa.binary()))[0]
        assert worth == any(marker.encode() in html.lower() for marker in MARKERS)
        ours = page_signals(html if worth else None, [], AGENTS)
        expected = whole_page_signals(html, AGENTS)
        assert (ours.opt_outs, ours.license) == expected, record.headers.get("WARC-Target-URI")
        licensed += ours.license is not None
    assert licensed == 46


def test_a_run_s_robots_txt_verdicts_match_the_standard_library_s(local_ray, tmp_path):
    """The sample crawl with its robots.txt captures, through `extract` and `consent` on Ray:
    each document is `robots_disallowed` exactly where Python's own robots.txt parser,
    reading the captures through warcio, disallows its URL to one of the AI agents."""
    captures = ROOT / "data" / "sample" / "robotstxt" / "robots-000.warc.gz"
    parsers = {}
    with open(captures, "rb") as stream:
        for record in ArchiveIteratorOfWarcio(stream):
            if record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                parser = RobotFileParser()
                parser.parse(record.content_stream().read().decode().splitlines())
                parsers[urlsplit(record.rec_headers.get_header("WARC-Target-URI")).hostname] = (
                    parser
                )
    assert len(parsers) == 3
    inputs = [{"source": "web", "format": "warc", "paths": [str(ROOT / "data/sample/*.warc.gz")]}]
    stages = [{"extract": {}}, {"consent": {"robots": [str(captures)]}}]
    summary = run(job(tmp_path / "out", inputs, stages))
    documents = read_documents(tmp_path / "out")
    expected = []
    for document in documents:
        parser = parsers.get(urlsplit(document["url"]).hostname)
        refused = parser and any(not parser.can_fetch(a, document["url"]) for a in AI_AGENTS)
        expected.append("robots_disallowed" if refused else None)
    assert [d["ai_opt_out"] for d in documents] == expected
    assert 0 < expected.count("robots_disallowed") < len(documents)
    counted = funnel(summary)["consent"]["counters"]
    assert counted == {"opt_out.robots_disallowed": expected.count("robots_disallowed")}
