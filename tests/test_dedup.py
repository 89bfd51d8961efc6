"""Dedup: signatures equal datasketch's, measured recall and precision on real text at known
edit rates, survivor choice, counts, reruns and the incremental index, on a real local Ray."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash
from pydantic import ValidationError

from dedup.banding import candidate_probability, default_banding
from dedup.hashing import normalise
from dedup.minhash import MinHasher, shingle_batch, shingle_hash, shingles
from dedup.params import DedupParams
from dedup.phase import _index_files, _survivors
from pipeline.schema import ConfigError
from support.warcs import html_page, http_response, warc_record, write_warc
from tests.conftest import ROOT, SAMPLE, funnel, job, read_documents, run

WORDS = ["Alpha", "beta,", "GAMMA!", "délta", "ε", "word", "the", "x-y", "don't", "über", "日本"]
BOILERPLATE = [
    "Share this article on Facebook Twitter or by email",
    "Subscribe to our newsletter for weekly updates",
    "All rights reserved",
    "Cookie settings",
    "Related stories from this section",
]


@pytest.mark.parametrize(("num_perm", "seed", "ngram"), [(16, 1, 1), (128, 7, 3), (256, 42, 5)])
def test_signatures_equal_datasketch_bit_for_bit(num_perm, seed, ngram):
    rng = random.Random(seed)
    separators = [" ", "  ", "\n", "\t", " — "]
    texts = [
        "".join(f"{rng.choice(WORDS)}{rng.choice(separators)}" for _ in range(rng.randint(0, 60)))
        for _ in range(200)
    ] + ["", None, "one", "!!!", "two words"]
    signatures = MinHasher(num_perm, seed).signatures(
        shingle_batch(pa.array(texts), ngram), len(texts)
    )
    for text, signature in zip(normalise(pa.array(texts)).to_pylist(), signatures, strict=True):
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)
        reference.update_batch(shingles(text, ngram))
        assert np.array_equal(reference.hashvalues, signature), text


CHINESE_NEWS = [  # a news article in the style of a Beijing daily, written for this test
    "北京市交通委员会昨天宣布，从明年一月起将对部分公交线路进行调整。",
    "调整后，市区主要干道的公交车发车间隔将缩短到五分钟以内，方便市民早晚高峰出行。",
    "交通委员会负责人表示，这次调整是在广泛听取市民意见的基础上做出的决定。",
    "据统计，去年全市公交客运量比前年下降了百分之八，地铁客运量则有所增长。",
    "专家认为，公交和地铁应该更好地衔接，让乘客换乘更加便捷。",
    "不少市民对这一消息表示欢迎，但也有人担心部分偏远地区的线路会被取消。",
    "交通委员会表示，将在下个月举行听证会，进一步听取各方面的意见和建议。",
    "新的线路图和时刻表将在官方网站和各公交站点公布，市民可以提前查询。",
]
SPACE_FREE_PAGES = {
    "zh": "\n".join(CHINESE_NEWS),
    "ja": "子供たちは毎朝友達と一緒に川のそばの古い学校へ歩いて行きました。先生は門の前で待っていました。",
    "th": "เด็กๆ เดินไปโรงเรียนเก่าริมแม่น้ำกับเพื่อนๆ ของพวกเขาทุกเช้า ครูรออยู่ที่หน้าประตู",
}


def test_shingles_of_languages_without_spaces_are_n_grams_of_their_words():
    """A Chinese, Japanese or Thai document's signature is datasketch's MinHash of the word
    n-grams that datatrove's tokenizer for its language gives of the normalised text (as
    FineWeb-2 shingles it), not of its space-separated runs, and an English one's is as
    before; the exact keys stay those of the normalised texts."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from dedup.keys import KeyMaker
    from dedup.words import Spacer
    from filters.quality.languages import language_entry

    texts = [*SPACE_FREE_PAGES.values(), "The committee will publish its findings next spring."]
    languages = pa.array([*SPACE_FREE_PAGES, "en"])
    respace = partial(Spacer().spaced, languages=languages)
    ours = MinHasher(64, 1).signatures(shingle_batch(pa.array(texts), 3, respace), len(texts))
    for language, text, signature in zip(languages.to_pylist(), texts, ours, strict=True):
        normalised = normalise(pa.array([text]))[0].as_py()
        if language != "en":
            code = language_entry(language)["fineweb2"]
            words = load_word_tokenizer(code).word_tokenize(normalised)
            assert len(words) > 2 * len(normalised.split(" ")), language
            normalised = " ".join(words)
        reference = MinHash(num_perm=64, seed=1, hashfunc=shingle_hash)
        reference.update_batch(shingles(normalised, 3))
        assert np.array_equal(reference.hashvalues, signature), language
    batch = pa.table({"id": texts, "text": texts, "language": languages})
    exact = [
        KeyMaker(DedupParams(minhash={"per_language": on})).signature_table(batch)["exact"]
        for on in (True, False)
    ]
    assert exact[0] == exact[1]


def test_a_segmenter_that_breaks_leaves_its_documents_space_separated(monkeypatch):
    """A third-party segmenter raising on some text costs those documents their word
    shingles, not the shard: they are shingled by their space-separated runs, the others by
    their words."""
    from dedup.words import Spacer
    from filters.quality.segmenters import SEGMENTERS

    def broken(text: str) -> list[str]:
        raise RuntimeError("segmenter bug")

    monkeypatch.setitem(SEGMENTERS, "km", broken)
    normalised = normalise(pa.array(["ភាសា ខ្មែរ", SPACE_FREE_PAGES["zh"]]))
    spaced = Spacer().spaced(normalised, pa.array(["km", "zh"]))
    assert spaced[0] == normalised[0] and spaced[1] != normalised[1]
    assert len(spaced[1].as_py().split(" ")) > 10 * len(normalised[1].as_py().split(" "))


def test_a_chinese_near_duplicate_is_found_through_its_words(local_ray, tmp_path):
    """A Chinese article and a copy with two words changed, labelled by the language stage:
    shingles of their words (the default) make them one; shingles of space-separated runs,
    whole sentences here, do not."""
    copy = "\n".join(CHINESE_NEWS).replace("五分钟", "三分钟").replace("百分之八", "百分之九")
    rows = [{"id": "original", "text": "\n".join(CHINESE_NEWS)}, {"id": "copy", "text": copy}]
    (tmp_path / "news.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    inputs = [{"source": "news", "format": "jsonl", "paths": [str(tmp_path / "news.jsonl")]}]
    for per_language, removed in ((True, {"near_duplicate": 1}), (False, {})):
        stages = [{"language": {}}, {"dedup": {"minhash": {"per_language": per_language}}}]
        summary = run(job(tmp_path / str(per_language), inputs, stages))
        assert funnel(summary)["language"]["kept"] == 2
        assert funnel(summary)["dedup"]["removed"] == removed, per_language


def test_default_banding_catches_j09_and_almost_never_j05():
    bands, rows = default_banding(0.8, 256)
    assert bands * rows <= 256
    assert candidate_probability(0.9, bands, rows) >= 0.97
    assert candidate_probability(0.5, bands, rows) < 0.005


def test_survivor_is_best_quality_then_earliest_then_first_in_input_order():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    members = {
        "quality": np.array([0.2, 0.9, np.nan, np.nan, np.nan, np.nan, 0.5, 0.5]),
        "date": np.array([1, 5, 0, 9, 3, 3, 1, 1]),
        "id": np.array(["a", "b", "c", "d", "f", "e", "h", "g"], object),
    }
    from_index = np.zeros(8, bool)
    assert _survivors(labels, members, from_index).tolist() == [1, 1, 1, 4, 4, 4, 6, 6]
    from_index[0] = True
    assert _survivors(labels, members, from_index)[:3].tolist() == [0, 0, 0]


def test_bad_banding_is_refused_with_its_key(tmp_path):
    inputs = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]
    with pytest.raises(ConfigError, match=r"stages\.dedup\.minhash"):
        job(tmp_path, inputs, [{"dedup": {"minhash": {"bands": 30, "rows": 10}}}])
    # Each signature task holds a file open per partition: 100,000 ran out of them mid-run.
    with pytest.raises(ConfigError, match=r"stages\.dedup\.partitions: .* less than or equal"):
        job(tmp_path, inputs, [{"dedup": {"partitions": 1025}}])


def wikitext_chunks(corpora, words: int) -> list[list[str]]:
    """Consecutive `words`-word pieces of WikiText-2 articles (headings left out)."""
    chunks = []
    for name in ("wikitext-2-valid.txt", "wikitext-2-test.txt"):
        text = (corpora / "text" / name).read_text()
        for article in re.split(r"^ = [^=].* = \s*$", text, flags=re.MULTILINE):
            body = [
                w
                for line in article.splitlines()
                if not line.startswith(" =")
                for w in line.split()
            ]
            chunks += [body[i : i + words] for i in range(0, len(body) - words + 1, words)]
    return chunks


def edited(words: list[str], rate: float, vocabulary: list[str], rng: random.Random) -> list[str]:
    copy = list(words)
    for position in rng.sample(range(len(copy)), max(1, round(rate * len(copy)))):
        copy[position] = rng.choice(vocabulary)
    return copy


KINDS = {
    "exact": 20,
    "edit_0.5%": 30,
    "edit_1%": 30,
    "edit_2%": 30,
    "edit_50%": 30,
    "boilerplate": 30,
}


@pytest.fixture(scope="module")
def edit_rate_run(corpora, local_ray, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edits")
    rng = random.Random(6)
    chunks = wikitext_chunks(corpora, words=400)
    rng.shuffle(chunks)
    vocabulary = [w for chunk in chunks[-20:] for w in chunk]
    documents, pairs = [], []
    for kind, count in KINDS.items():
        for _ in range(count):
            words = chunks.pop()
            if kind == "exact":
                copy = " ".join(words)
            elif kind == "boilerplate":
                lines = rng.sample(BOILERPLATE, rng.randint(1, 5))
                cut = rng.randint(0, len(lines))
                copy = "\n".join([*lines[:cut], " ".join(words), *lines[cut:]])
            else:
                copy = " ".join(edited(words, float(kind[5:-1]) / 100, vocabulary, rng))
            base = f"{kind}-{len(pairs)}"
            documents += [
                {"id": base, "text": " ".join(words)},
                {"id": f"{base}-copy", "text": copy},
            ]
            pairs.append((kind, base, f"{base}-copy"))
    documents += [{"id": f"single-{n}", "text": " ".join(chunks.pop())} for n in range(60)]
    rng.shuffle(documents)
    paths = []
    for part in range(3):
        paths.append(tmp / f"part-{part}.jsonl")
        paths[-1].write_text("".join(json.dumps(d) + "\n" for d in documents[part::3]))
    inputs = [{"source": "wikitext", "format": "jsonl", "paths": [str(p) for p in paths]}]
    summary = run(job(tmp / "out", inputs, [{"dedup": {"minhash": {}}}], keep_removed=True))
    written = read_documents(tmp / "out") + read_documents(tmp / "out", "removed")
    given = {d["id"]: d["source_id"] for d in written}
    cluster = {d["source_id"]: given.get(d["dup_cluster"]) for d in written}
    assert len(cluster) == len(documents)
    merged = {kind: [] for kind in KINDS}
    for kind, base, copy in pairs:
        merged[kind].append(cluster[base] is not None and cluster[base] == cluster[copy])
    return summary, merged, cluster


def test_near_duplicates_are_merged_at_low_edit_rates(edit_rate_run, capsys):
    summary, merged, _ = edit_rate_run
    rates = {kind: sum(hits) / len(hits) for kind, hits in merged.items()}
    with capsys.disabled():
        print(f"\nmerge rate by kind of copy: {json.dumps(rates)}")
    assert all(merged["exact"])
    assert sum(merged["edit_0.5%"] + merged["edit_1%"]) >= 0.95 * 60
    assert rates["boilerplate"] >= 0.95
    dedup = funnel(summary)["dedup"]
    assert dedup["removed"]["exact_duplicate"] == KINDS["exact"]
    phase = summary.report["phases"]["dedup"]
    assert sum(phase["removed"].values()) == sum(dedup["removed"].values())
    assert phase["cluster_sizes"] == {"2": phase["clusters"]}
    sample = phase["sample_clusters"][0]
    assert sample["survivor"]["excerpt"] and sample["removed"][0]["excerpt"]


def test_heavily_edited_and_unrelated_documents_stay_apart(edit_rate_run):
    _, merged, cluster = edit_rate_run
    assert sum(merged["edit_50%"]) <= 0.02 * len(merged["edit_50%"])
    origins: dict[str, set[str]] = {}
    for document, name in cluster.items():
        if name is not None:
            origins.setdefault(name, set()).add(document.removesuffix("-copy"))
    assert all(len(group) == 1 for group in origins.values())


def sample_job(out, **dedup):
    inputs = [
        {"source": "web", "format": "warc", "paths": [str(SAMPLE / "*.warc.gz")]},
        {"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]},
    ]
    stages = [{"extract": {}}, {"dedup": {"minhash": {}, **dedup}}]
    return job(out, inputs, stages, keep_removed=True)


def test_sample_run_conserves_counts_annotates_every_shard_and_reruns_alike(local_ray, tmp_path):
    first = run(sample_job(tmp_path / "a"))
    stages = funnel(first)
    assert stages["dedup"]["docs_in"] == stages["extract"]["kept"]
    assert stages["dedup"]["removed"]
    for shard in (tmp_path / "a" / "documents").glob("*.parquet"):
        schema = pq.read_schema(shard)
        assert schema.field("dup_cluster").type == pa.string()
        assert schema.field("dup_cluster_size").type == pa.int32()
    documents = read_documents(tmp_path / "a")
    sundial = [d for d in documents if d["text"].startswith("Sundial")]
    assert len(sundial) == 1 and sundial[0]["dup_cluster_size"] == 2
    assert all(d["dup_cluster_size"] == 1 for d in documents if d["dup_cluster"] is None)
    removed = read_documents(tmp_path / "a", "removed")
    assert {r["reason"] for r in removed if r["stage"] == "dedup"} <= {
        "exact_duplicate",
        "near_duplicate",
    }
    assert not (tmp_path / "a" / "_work").exists()
    second = run(sample_job(tmp_path / "b"))
    assert read_documents(tmp_path / "b") == documents
    assert (
        second.report["phases"]["dedup"]["cluster_sizes"]
        == (first.report["phases"]["dedup"]["cluster_sizes"])
    )
    # a lost phase is redone from its inputs, to the same survivors
    state = tmp_path / "a" / "_state"
    (state / "phases" / "dedup.json").unlink()
    shutil.rmtree(state / "shards")
    shutil.rmtree(tmp_path / "a" / "documents")
    run(sample_job(tmp_path / "a"))
    assert read_documents(tmp_path / "a") == documents


def test_a_later_run_drops_what_an_earlier_runs_index_holds(local_ray, tmp_path):
    wiki = [json.loads(line) for line in (SAMPLE / "wiki.jsonl").read_text().splitlines()]
    earlier = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]
    stages = [{"dedup": {"minhash": {}, "write_index": True}}]
    run(job(tmp_path / "earlier", earlier, stages))
    assert (tmp_path / "earlier" / "dedup" / "index" / "index.json").exists()
    fresh = [
        {"id": f"new-{n}", "text": f"A new article number {n} about something else."}
        for n in range(3)
    ]
    again = [{"id": f"again-{n}", "text": d["text"]} for n, d in enumerate(wiki[:5])]
    (tmp_path / "crawl.jsonl").write_text("".join(json.dumps(d) + "\n" for d in fresh + again))
    later = [{"source": "crawl", "format": "jsonl", "paths": [str(tmp_path / "crawl.jsonl")]}]
    index = str(tmp_path / "earlier" / "dedup" / "index")
    summary = run(job(tmp_path / "later", later, [{"dedup": {"minhash": {}, "against": [index]}}]))
    assert sorted(d["source_id"] for d in read_documents(tmp_path / "later")) == [
        "new-0",
        "new-1",
        "new-2",
    ]
    assert funnel(summary)["dedup"]["removed"] == {"exact_duplicate": 5}
    # Refused with the config, not at the dedup step after every shard's earlier stages.
    other = [{"dedup": {"minhash": {"num_perm": 128}, "against": [index]}}]
    with pytest.raises(ConfigError, match=f"stages.dedup.against: {index} was built with other"):
        job(tmp_path / "other", later, other)
    run_folder = [{"dedup": {"minhash": {}, "against": [str(tmp_path / "earlier")]}}]
    with pytest.raises(ConfigError, match=f"output folder; did you mean {index}\\?"):
        job(tmp_path / "other", later, run_folder)


def test_exact_alone_removes_exact_copies_and_keeps_near_ones(local_ray, tmp_path):
    summary = run(sample_job(tmp_path / "exact", minhash=None, exact=True))
    removed = funnel(summary)["dedup"]["removed"]
    assert set(removed) == {"exact_duplicate"} and removed["exact_duplicate"] > 0
    documents = read_documents(tmp_path / "exact")
    assert len([d for d in documents if d["text"].startswith("Sundial")]) == 2
    assert len({d["text"] for d in documents}) == len(documents)


def test_a_unique_page_sharing_a_record_id_with_a_copy_is_kept(local_ray, tmp_path):
    """Ids repeat in the wild: WARC-Record-IDs reused, the same JSONL ids in two files.
    Decisions follow the run-unique id, so only real copies are removed."""
    shared_id = {"WARC-Record-ID": "<urn:uuid:00000000-0000-0000-0000-000000000001>"}
    story, other = html_page("A story told twice").encode(), html_page("Another story").encode()
    records = [
        warc_record(http_response(story), "https://a.example/1"),
        warc_record(http_response(story), "https://b.example/1", extra=shared_id),
        warc_record(http_response(other), "https://c.example/1", extra=shared_id),
    ]
    write_warc(tmp_path / "crawl.warc.gz", records)
    for name, text in (("a", "The first file's own text."), ("b", "The second file's text.")):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"id": "1", "text": text}) + "\n")
    inputs = [
        {"source": "web", "format": "warc", "paths": [str(tmp_path / "crawl.warc.gz")]},
        {"source": "lists", "format": "jsonl", "paths": [str(tmp_path / "*.jsonl")]},
    ]
    stages = [{"extract": {}}, {"dedup": {"exact": True}}]
    summary = run(job(tmp_path / "out", inputs, stages, keep_removed=True))
    kept = read_documents(tmp_path / "out")
    assert sorted(d["url"] or d["text"] for d in kept) == [
        "The first file's own text.",
        "The second file's text.",
        "https://a.example/1",  # the first copy in input order survives
        "https://c.example/1",
    ]
    assert funnel(summary)["dedup"]["removed"] == {"exact_duplicate": 1}
    [removed] = read_documents(tmp_path / "out", "removed")
    assert (
        removed["url"] == "https://b.example/1"
        and removed["warc_record_id"] == (shared_id["WARC-Record-ID"])
    )


def test_an_index_built_with_the_former_ids_is_refused(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    settings = DedupParams(minhash={}).index_settings()
    (index / "index.json").write_text(json.dumps({"minhash": settings["minhash"]}))
    with pytest.raises(ValidationError, match="older tokenmill whose document ids could repeat"):
        DedupParams(minhash={}, against=[str(index)])


def test_an_index_from_before_word_shingles_is_used_with_per_language_off(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    before = DedupParams(minhash={"per_language": False}).index_settings()
    (index / "index.json").write_text(json.dumps(before))
    with pytest.raises(ValidationError, match=r"minhash\.per_language: false"):
        DedupParams(minhash={}, against=[str(index)])
    assert _index_files(DedupParams(minhash={"per_language": False}, against=[str(index)])) == []
    with pytest.raises(ValidationError, match="num_perm: 256 there, 128 here"):
        DedupParams(minhash={"num_perm": 128, "per_language": False}, against=[str(index)])


SIGN_A_SHARD = """
import resource, sys
from dedup.params import DedupParams
from dedup.phase import sign_shard
out = sys.argv[1]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
signature = ("_work", "dedup", "signatures", "shard.parquet")
sign_shard(out, f"{out}/shard.parquet", signature, 0, DedupParams(minhash={"num_perm": 64}))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow
def test_signing_a_shard_holds_a_batch_not_the_shard(tmp_path):
    """The signature task streams: its memory does not grow with the shard (it grew by
    ~250 MB from 100k to 400k documents when it held the whole signature table)."""
    growth = {}
    for documents in (20_000, 400_000):
        out = tmp_path / str(documents)
        out.mkdir()
        schema = pa.schema([("id", pa.string()), ("text", pa.string())])
        with pq.ParquetWriter(out / "shard.parquet", schema) as writer:
            for start in range(0, documents, 10_000):
                rows = range(start, start + 10_000)
                texts = [f"document {n} says {n * 7} and {n % 97} then {n % 13}" for n in rows]
                writer.write_table(pa.table({"id": list(map(str, rows)), "text": texts}, schema))
        done = subprocess.run(
            [sys.executable, "-c", SIGN_A_SHARD, str(out)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        growth[documents] = int(done.stdout.split()[-1])
    assert growth[400_000] - growth[20_000] < 40, growth


@pytest.mark.parametrize("texts", [[], ["one text", "another text", "one text"]])
def test_dedup_runs_on_no_documents_and_on_fewer_than_its_partitions(local_ray, tmp_path, texts):
    """Zero documents (an earlier stage removed them all) and three documents for eight
    partitions: partitions without keys raised IndexError on every rerun."""
    lines = [json.dumps({"text": text}) for text in texts] or [json.dumps({"text": "   "})]
    (tmp_path / "few.jsonl").write_text("\n".join(lines) + "\n")
    inputs = [{"source": "few", "format": "jsonl", "paths": [str(tmp_path / "few.jsonl")]}]
    summary = run(job(tmp_path / "out", inputs, [{"dedup": {"minhash": {}}}]))
    assert summary.failed == {}
    assert len(read_documents(tmp_path / "out")) == len(set(texts))
