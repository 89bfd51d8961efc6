import gzip
import random
import re
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config, validate_config
from pipeline.schema import ConfigError, apply_override
from support.warcs import conversion_record, page_record, warc_record, warcinfo_record, write_warc

BASE = {
    "name": "t",
    "output": "out",
    "inputs": [{"source": "web", "format": "warc", "paths": ["a.warc.gz"]}],
    "stages": [{"extract": {"engine": "resiliparse"}}],
}


def config_with(**changes):
    return validate_config({**BASE, **changes})


def error_of(**changes) -> str:
    with pytest.raises(ConfigError) as caught:
        config_with(**changes)
    return str(caught.value)


def test_the_quickstart_config_is_valid():
    config = load_config("configs/quickstart.yaml")
    assert next(s.name for s in config.stages) == "extract"


def test_unknown_stage_is_named():
    message = error_of(stages=[{"extract": {}}, {"dedupe": {}}])
    assert "unknown stage 'dedupe' (did you mean `dedup`? known:" in message


def test_unknown_key_is_named_with_the_closest_known_key():
    def unknown(key: str, suggestion: str, **changes) -> None:
        message = error_of(**changes)
        assert f"{key}: Extra inputs are not permitted; did you mean `{suggestion}`?" in message

    unknown("stages.extract.engin", "engine", stages=[{"extract": {"engin": "x"}}])
    unknown("stages.language.min_scor", "min_score", stages=[{"language": {"min_scor": 0.5}}])
    gopher = {"quality": {"gopher_quality": {"min_alpha_word_ratio": 0.5}}}
    unknown(
        "stages.quality.gopher_quality.min_alpha_word_ratio",
        "min_alpha_words_ratio",
        stages=[gopher],
    )
    german = {"quality": {"languages": {"de": {"gopher_quality": {"min_stop_word": 3}}}}}
    unknown(
        "stages.quality.languages.de.gopher_quality.min_stop_word",  # no arm's name (`Params`)
        "min_stop_words",
        stages=[german],
    )
    unknown("inputs.0.formt", "format", inputs=[{**BASE["inputs"][0], "formt": "warc"}])
    unknown("keep_removd", "keep_removed", keep_removd=True)
    unknown("execution.worker", "workers", execution={"worker": 2})
    unknown("tokenizer.train.vocab", "vocab_size", tokenizer={"train": {"vocab": 8}})
    assert error_of(zzz=1).endswith("zzz: Extra inputs are not permitted")


def test_a_threshold_that_is_not_a_finite_number_is_refused():
    """`.nan` passed as any threshold: every comparison with it is false, so a rule kept or
    removed everything without a word. A union's arms are named by the key, on one line."""
    ratio = {"gopher_quality": {"min_alpha_words_ratio": float("nan")}}
    for stage, key in (
        ({"quality": ratio}, "stages.quality.gopher_quality.min_alpha_words_ratio"),
        (
            {"quality": {"languages": {"de": ratio}}},
            "stages.quality.languages.de.gopher_quality.min_alpha_words_ratio",
        ),
    ):
        assert error_of(stages=[stage]).endswith(f"{key}: Input should be a finite number")
    assert error_of(stages=[{"language": {"min_score": float("inf")}}]).endswith(
        "stages.language.min_score: Input should be a finite number; or Input should be 'fineweb2'"
    )
    assert error_of(execution={"max_errored_share": float("nan")}).endswith(
        "execution.max_errored_share: Input should be a finite number"
    )


def test_per_language_quality_rules_name_languages_the_language_stage_writes():
    """A typo (`ger`), a GlotLID label under lid.176, or no language stage before `quality`:
    the rules were accepted and applied to no document."""
    extract, language = {"extract": {}}, {"language": {}}
    rules = {"quality": {"languages": {"de": {"c4": False}, "ger": {}, "deu_Latn": {}}}}
    assert error_of(stages=[extract, language, rules]).endswith(
        "stages.quality.languages: deu_Latn, ger: the language stage never writes these "
        "(lid.176 writes ISO 639-1 codes such as en, de, zh)"
    )
    german = {"quality": {"languages": {"de": {"c4": False}}}}
    for stages in ([extract, german], [extract, german, language]):
        assert error_of(stages=stages).endswith(
            "stages.quality.languages: only documents a `language` stage labels get a "
            "language's rules; add one before `quality`"
        )
    assert config_with(stages=[extract, language, german]).stage("quality")


def test_a_quality_stage_with_every_rule_family_off_is_refused():
    off = dict.fromkeys(("gopher_quality", "gopher_repetition", "c4", "fineweb"), False)
    assert error_of(stages=[{"extract": {}}, {"quality": off}]).endswith(
        "stages.quality: every rule family is off, so every document would be kept: turn one "
        "on or leave the stage out"
    )
    blocklist = {"blocklist": {"bad_words": ["casino"]}}
    assert config_with(stages=[{"extract": {}}, {"quality": {**off, **blocklist}}])
    assert error_of(stages=[{"extract": {}}, {"quality": {"blocklist": {}}}]).endswith(
        "stages.quality.blocklist: no domains or bad words to block: give some, or leave it out"
    )


def test_version(capsys):
    from pipeline.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == "tokenmill 0.1.0\n"


def test_wrong_type_and_bad_value_are_named():
    assert "stages.extract.engine" in error_of(stages=[{"extract": {"engine": "lynx"}}])
    assert "inputs.0.max_record_bytes" in error_of(
        inputs=[{**BASE["inputs"][0], "max_record_bytes": "big"}]
    )
    assert "keep_removed" in error_of(keep_removed="sometimes")


def test_missing_inputs_and_structure_errors():
    assert "inputs" in error_of(inputs=[])
    data = {k: v for k, v in BASE.items() if k != "inputs"}
    with pytest.raises(ConfigError, match="inputs"):
        validate_config(data)
    assert "extract" in error_of(stages=[])
    assert "listed twice" in error_of(stages=[{"extract": {}}, {"extract": {}}])
    assert "split_on" in error_of(inputs=[{**BASE["inputs"][0], "split_on": "^="}])


def test_set_overrides_address_stages_by_name_and_keep_types():
    data = {**BASE, "inputs": [dict(BASE["inputs"][0])], "stages": [{"extract": {}}]}
    apply_override(data, "stages.extract.engine=trafilatura")
    apply_override(data, "output=runs/x")
    apply_override(data, "inputs.0.max_record_bytes=2000")
    apply_override(data, "keep_removed=true")
    config = validate_config(data)
    assert config.stage("extract").params.engine == "trafilatura"
    assert config.output == str(Path("runs/x").resolve())  # paths are made absolute
    assert config.inputs[0].max_record_bytes == 2000
    assert config.keep_removed is True
    with pytest.raises(
        ConfigError, match=r"stage 'dedup' is not in the config's stages \(extract\)$"
    ):
        apply_override(data, "stages.dedup.minhash.threshold=0.7")
    with pytest.raises(ConfigError, match=r"stages \(extract\); did you mean `extract`\?$"):
        apply_override(data, "stages.extarct.engine=trafilatura")
    with pytest.raises(ConfigError, match="key=value"):
        apply_override(data, "output")


def test_input_paths_that_match_nothing_fail_before_work(tmp_path):
    from pipeline.inputs import resolve_inputs

    config = config_with(
        inputs=[{"source": "web", "format": "warc", "paths": [str(tmp_path / "*.warc.gz")]}]
    )
    with pytest.raises(ConfigError, match=r"inputs\[0\].paths"):
        resolve_inputs(config)
    (tmp_path / "crawl").mkdir()  # datatrove reads a folder; here it is a glob's to say
    (tmp_path / "crawl" / "a.jsonl").write_text('{"text": "a"}\n')
    config = config_with(
        inputs=[{"source": "web", "format": "jsonl", "paths": [str(tmp_path / "crawl")]}]
    )
    with pytest.raises(ConfigError) as raised:
        resolve_inputs(config)
    assert str(raised.value) == (
        f"inputs[0].paths: '{tmp_path / 'crawl'}' is a folder; give a glob of its files, e.g. "
        f"'{tmp_path / 'crawl' / '*.jsonl'}' (**/ for its subfolders too)"
    )


def test_a_store_that_refuses_is_one_line_naming_the_key(monkeypatch, tmp_path):
    """Object storage without credentials: the inputs and the output were a botocore
    traceback, a model `file not found`."""
    import fsspec

    from pipeline.inputs import resolve_inputs
    from pipeline.output import RunOutput, check_output

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Instances of their own: one made with credentials signs its calls, and none made
    # without may outlive the test
    monkeypatch.setattr(type(fsspec.filesystem("s3")), "_cache", {})
    refused = "could not be read: .*Unable to locate credentials"
    glob = [{"source": "s", "format": "jsonl", "paths": ["s3://crawl/*.jsonl"]}]
    with pytest.raises(
        ConfigError, match=rf"^inputs\[0\]\.paths: 's3://crawl/\*\.jsonl' {refused}"
    ):
        resolve_inputs(config_with(inputs=glob))
    with pytest.raises(ConfigError, match=rf"^output: s3://runs/x {refused}"):
        check_output(RunOutput("s3://runs/x"))
    model = {"perplexity": {"model": "s3://models/wiki.binary"}}
    assert f"stages.perplexity.model: s3://models/wiki.binary: {refused[:18]}" in error_of(
        stages=[model]
    )


def test_a_globs_files_are_its_files_and_links_to_files(tmp_path):
    from pipeline.inputs import resolve_inputs

    (tmp_path / "real.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
    (tmp_path / "broken.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (tmp_path / "folder.jsonl").mkdir()
    glob = [{"source": "s", "format": "jsonl", "paths": [str(tmp_path / "*.jsonl")]}]
    found = [file.path for file in resolve_inputs(config_with(inputs=glob))]
    assert found == [str(tmp_path / "link.jsonl"), str(tmp_path / "real.jsonl")]


def test_a_file_named_like_a_glob_is_read_when_the_glob_matches_nothing(tmp_path):
    """`crawl[2024].jsonl` as a glob asks for `crawl2.jsonl`, `crawl0.jsonl`...; a shell
    passes such an unmatched pattern on as the name, and so do inputs."""
    from pipeline.inputs import resolve_inputs

    (tmp_path / "crawl[2024].jsonl").write_text('{"text": "a"}\n')
    named = [{"source": "s", "format": "jsonl", "paths": [str(tmp_path / "crawl[2024].jsonl")]}]
    assert [file.path for file in resolve_inputs(config_with(inputs=named))] == [
        str(tmp_path / "crawl[2024].jsonl")
    ]
    (tmp_path / "crawl2.jsonl").write_text('{"text": "b"}\n')
    assert [file.path for file in resolve_inputs(config_with(inputs=named))] == [
        str(tmp_path / "crawl2.jsonl")
    ]
    unmatched = [{"source": "s", "format": "jsonl", "paths": [str(tmp_path / "x[1].jsonl")]}]
    with pytest.raises(ConfigError, match=r"x\[1\]\.jsonl' matches no file"):
        resolve_inputs(config_with(inputs=unmatched))


def test_a_file_two_patterns_match_is_read_once_and_one_two_inputs_name_is_refused(tmp_path):
    from pipeline.inputs import resolve_inputs

    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text('{"text": "a"}\n')
    both = [str(tmp_path / "*.jsonl"), str(tmp_path / "b.jsonl")]
    one = [{"source": "s", "format": "jsonl", "paths": both}]
    files = resolve_inputs(config_with(inputs=one))
    assert [(file.path, file.shard) for file in files] == [
        (str(tmp_path / "a.jsonl"), "s-00000"),
        (str(tmp_path / "b.jsonl"), "s-00000"),  # small files share a shard
    ]
    two = [*one, {"source": "t", "format": "jsonl", "paths": [str(tmp_path / "b.jsonl")]}]
    with pytest.raises(
        ConfigError,
        match=rf"^inputs\[1\]\.paths: {tmp_path}/b\.jsonl is also an input of inputs\[0\] "
        r"\(source s\); a file is read by one input$",
    ):
        resolve_inputs(config_with(inputs=two))


def test_consecutive_small_files_share_a_shard_up_to_shard_bytes():
    from pipeline.inputs import shard_numbers

    sizes = [100, 300, 600, 50, None, 40, 2_000, 10, 990, 0]
    assert shard_numbers(sizes, 1_000) == [0, 0, 0, 1, 2, 3, 4, 5, 5, 5]
    assert shard_numbers(sizes, 0) == list(range(len(sizes)))
    assert shard_numbers([], 1_000) == []


def test_a_glob_leaves_out_the_runs_own_output_which_cannot_be_an_input(tmp_path):
    """`data/**/*.parquet` with the output in data/out: the first run wrote there, and the
    rerun that resumes it read its own state back as input (a config error naming a file
    in OUT/_state/)."""
    from pipeline.inputs import resolve_inputs

    (tmp_path / "src").mkdir()
    (tmp_path / "out" / "documents").mkdir(parents=True)
    for name in ("src/a.jsonl", "out/documents/s-00000.jsonl"):
        (tmp_path / name).write_text('{"text": "a"}\n')
    output = str(tmp_path / "out")
    glob = [{"source": "s", "format": "jsonl", "paths": [str(tmp_path / "**/*.jsonl")]}]
    files = resolve_inputs(config_with(inputs=glob, output=output))
    assert [file.path for file in files] == [str(tmp_path / "src/a.jsonl")]
    own = [{"source": "s", "format": "jsonl", "paths": [f"{output}/documents/*.jsonl"]}]
    with pytest.raises(ConfigError, match="names only files in the run's output folder"):
        resolve_inputs(config_with(inputs=own, output=output))
    assert resolve_inputs(config_with(inputs=own, output=f"{output}-2"))


def test_an_input_file_plainly_of_another_format_fails_before_work(tmp_path):
    """A WARC given as `jsonl` would be read as a million lines of errored documents; a
    file of the format, or one that starts with something else (left to the reader, which
    counts what it cannot use), passes."""
    from pipeline.inputs import resolve_inputs

    jsonl = tmp_path / "pages.jsonl.gz"
    with gzip.open(jsonl, "wt") as handle:
        handle.write('\n  {"text": "one"}\n')
    warc = write_warc(tmp_path / "crawl.warc.gz", [page_record(1)])
    plain = tmp_path / "pages.jsonl"
    plain.write_text('{"text": "one"}\n')
    other = tmp_path / "notes.txt"
    other.write_text("not json\n")

    def inputs(path, format):
        return config_with(inputs=[{"source": "s", "format": format, "paths": [str(path)]}])

    for path, format, found in (
        (plain, "parquet", "jsonl"),
        (jsonl, "warc", "jsonl"),
    ):
        with pytest.raises(ConfigError) as raised:
            resolve_inputs(inputs(path, format))
        assert str(raised.value) == (
            f"inputs[0].paths: {path} is a {found} file, but the input's format is {format}"
        )
    for path, format in ((jsonl, "jsonl"), (jsonl, "text"), (warc, "warc"), (other, "jsonl")):
        assert len(resolve_inputs(inputs(path, format))) == 1


def test_url_inputs_are_checked_before_work_as_local_ones(http_folder, s3_server):
    """The checks of an input's first file ran on local paths alone: a WET file served over
    HTTP (as Common Crawl serves its files) and given as `warc` gave 0 documents, exit 0."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.inputs import resolve_inputs

    folder, url, _ = http_folder
    write_warc(folder / "a.warc.wet.gz", [warcinfo_record("x"), conversion_record(1, b"text")])
    (folder / "rp.jsonl").write_text('{"raw_content": "text", "doc_id": "1"}\n')
    pq.write_table(pa.table({"raw_content": ["text"]}), folder / "rp.parquet")
    fsspec.filesystem("s3").put(
        [str(folder / n) for n in ("a.warc.wet.gz", "rp.parquet")], f"{s3_server}/crawl/"
    )
    (folder / "warc.paths").write_text("a.warc.wet.gz\n")  # a manifest's first file too
    wet = "is a WET file, Common Crawl's extracted text, but the input's format is warc"
    for pattern, format, path, problem in (
        (f"{url}/a.warc.wet.gz", "warc", f"{url}/a.warc.wet.gz", wet),
        (f"{url}/warc.paths", "warc", f"{url}/a.warc.wet.gz", wet),
        (f"{s3_server}/crawl/*.wet.gz", "warc", f"{s3_server}/crawl/a.warc.wet.gz", wet),
        (f"{url}/rp.jsonl", "jsonl", f"{url}/rp.jsonl", "has no `text` field"),
        (
            f"{s3_server}/crawl/rp.parquet",
            "parquet",
            f"{s3_server}/crawl/rp.parquet",
            "has no `text` column",
        ),
    ):
        spec = {"source": "s", "format": format, "paths": [pattern], "manifest_base": url}
        config = config_with(inputs=[spec])
        with pytest.raises(
            ConfigError, match=f"^inputs\\[0\\]\\.paths: {re.escape(path)} {problem}"
        ):
            resolve_inputs(config)
    served = config_with(inputs=[{"source": "s", "format": "wet", "paths": [f"{url}/*.wet.gz"]}])
    assert [file.path for file in resolve_inputs(served)] == [f"{url}/a.warc.wet.gz"]


def test_common_crawls_warc_wet_and_wat_files_each_need_their_own_format(tmp_path):
    """A WET file read as `warc` gave 0 documents and exit 0 (its conversion records are not
    a WARC's pages); a WAT file gives none either way. Each is named, with what reads it."""
    from pipeline.inputs import resolve_inputs

    header = [warcinfo_record("x")]
    warc = write_warc(tmp_path / "a.warc.gz", [*header, page_record(1)])
    wet = write_warc(tmp_path / "a.warc.wet.gz", [*header, conversion_record(1, b"text")])
    metadata = warc_record(b'{"Envelope": {}}', "https://x.example/", "metadata")
    wat = write_warc(tmp_path / "a.warc.wat.gz", [*header, metadata])

    def inputs(path, format):
        return config_with(inputs=[{"source": "s", "format": format, "paths": [str(path)]}])

    for path, format, message in (
        (
            wet,
            "warc",
            "a WET file, Common Crawl's extracted text, but the input's format is "
            "warc; read it with format: wet",
        ),
        (
            wet,
            "jsonl",
            "a WET file, Common Crawl's extracted text, but the input's format is "
            "jsonl; read it with format: wet",
        ),
        (
            warc,
            "jsonl",
            "a WARC file of HTTP responses, but the input's format is jsonl; read it "
            "with format: warc and an extract stage",
        ),
        (
            warc,
            "wet",
            "a WARC file of HTTP responses, but the input's format is wet; read it "
            "with format: warc and an extract stage",
        ),
        (
            wat,
            "warc",
            "a WAT file of metadata records, but the input's format is warc; they "
            "hold no page text: read its WARC or WET files",
        ),
    ):
        with pytest.raises(ConfigError) as raised:
            resolve_inputs(inputs(path, format))
        assert str(raised.value) == f"inputs[0].paths: {path} is {message}"
    for path, format in ((warc, "warc"), (wet, "wet")):
        assert len(resolve_inputs(inputs(path, format))) == 1
    # A file damaged before its head tells its kind is left to the reader it was given to.
    words = random.Random(0).choices(["crawl", "text", "page", "news", "mill", "word"], k=20_000)
    texts = [conversion_record(n, " ".join(words[n::100]).encode()) for n in range(100)]
    cut = tmp_path / "cut.warc.wet.gz"
    cut.write_bytes(write_warc(tmp_path / "b.warc.wet.gz", [*header, *texts]).read_bytes()[:10_000])
    for format in ("warc", "wet"):
        assert len(resolve_inputs(inputs(cut, format))) == 1


def test_an_input_whose_text_has_another_name_fails_before_work_naming_what_it_has(tmp_path):
    """RedPajama's `raw_content` ran as 0 documents kept (every row `missing_text`) and exit
    0. A JSON lines file passes if any object in its first 64 KiB has the field."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.inputs import resolve_inputs

    rows = [{"raw_content": "a page", "meta": {"lang": "en"}}] * 3
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rp.parquet")
    (tmp_path / "rp.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())
    )
    later = [{"title": "no text on this one"}, {"text": "a page"}]
    (tmp_path / "later.jsonl").write_text("".join(json.dumps(row) + "\n" for row in later))

    def inputs(name, **spec):
        paths = [str(tmp_path / name)]
        format = "parquet" if name.endswith("parquet") else "jsonl"
        return config_with(inputs=[{"source": "s", "format": format, "paths": paths, **spec}])

    def refusal(name: str) -> str:
        with pytest.raises(ConfigError) as raised:
            resolve_inputs(inputs(name))
        return str(raised.value)

    for name, kind in (("rp.parquet", "column"), ("rp.jsonl.gz", "field")):
        assert refusal(name) == (
            f"inputs[0].paths: {tmp_path / name} has no `text` {kind} (its {kind}s: "
            f"raw_content, meta); set inputs[0].columns: {{text: NAME}} to the {kind} that "
            "holds the text"
        )
        assert len(resolve_inputs(inputs(name, columns={"text": "raw_content"}))) == 1
    assert len(resolve_inputs(inputs("later.jsonl"))) == 1
    # A `text` of paragraphs (a list) or of numbers: every row was errored, exit 0.
    rows = [{"text": ["one", "two"], "title": "A", "n": 1}, {"text": 7, "title": "B", "n": 2}]
    pq.write_table(pa.Table.from_pylist(rows[:1]), tmp_path / "lists.parquet")
    (tmp_path / "lists.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    for name, kind, held in (
        ("lists.parquet", "column", "list<element: string>"),
        ("lists.jsonl", "field", "lists and numbers"),
    ):
        assert refusal(name) == (
            f"inputs[0].paths: {tmp_path / name}'s `text` {kind} holds {held}, not text (its "
            f"{kind}s of text: title); set inputs[0].columns: {{text: NAME}} to the {kind} "
            "that holds the text"
        )


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"format": "warc", "columns": {"text": "body"}}, "columns applies only to format: jsonl"),
        ({"format": "jsonl", "columns": {"text": "url"}}, "three different columns"),
    ],
)
def test_columns_name_three_fields_of_a_jsonl_or_parquet_input(spec, message):
    entry = {"source": "s", "paths": ["/data/x"], **spec}
    with pytest.raises(ConfigError, match=message):
        config_with(inputs=[entry])


def test_a_compressed_input_whose_name_does_not_say_so_fails_before_work(tmp_path):
    """JSON lines gzipped into `pages.jsonl` were read as bytes: every line errored, nothing
    kept. The error names the compression and the name that gets the file read; a WARC
    (its reader finds the compression) and a name that says it pass. A plain file named as
    compressed is refused too; a damaged compressed one is left to the reader."""
    import bz2
    import lzma

    import zstandard

    from pipeline.inputs import resolve_inputs

    lines = b'{"text": "one"}\n' * 50
    compressed = {
        "gzip": (gzip.compress(lines), "gz"),
        "zstd": (zstandard.ZstdCompressor().compress(lines), "zst"),
        "xz": (lzma.compress(lines), "xz"),
        "bz2": (bz2.compress(lines), "bz2"),
    }

    def inputs(path, format):
        return config_with(inputs=[{"source": "s", "format": format, "paths": [str(path)]}])

    for name, (data, suffix) in compressed.items():
        unsaid = tmp_path / f"{name}.jsonl"
        unsaid.write_bytes(data)
        for format in ("jsonl", "text"):
            with pytest.raises(ConfigError) as raised:
                resolve_inputs(inputs(unsaid, format))
            assert str(raised.value) == (
                f"inputs[0].paths: {unsaid} is {name}-compressed, but its name does not say "
                f"so (name it {name}.jsonl.{suffix} and it is read)"
            )
        said = unsaid.rename(tmp_path / f"{name}.jsonl.{suffix}")
        assert len(resolve_inputs(inputs(said, "jsonl"))) == 1
        # the other way round: the whole file was one errored `corrupt_archive`
        misnamed = tmp_path / f"plain-{name}.jsonl.{suffix}"
        misnamed.write_bytes(lines)
        with pytest.raises(ConfigError) as raised:
            resolve_inputs(inputs(misnamed, "jsonl"))
        assert str(raised.value) == (
            f"inputs[0].paths: {misnamed} is named as {name}-compressed, but it is not (it "
            f'starts with b\'{{"text": "on\'): name it without .{suffix} and it is read'
        )
        cut = tmp_path / f"cut.jsonl.{suffix}"
        cut.write_bytes(data[: len(data) // 2])  # damaged, not misnamed: left to the reader
        assert len(resolve_inputs(inputs(cut, "jsonl"))) == 1
    warc = write_warc(tmp_path / "crawl.warc.gz", [page_record(1)])
    assert len(resolve_inputs(inputs(warc.rename(tmp_path / "crawl.warc"), "warc"))) == 1
    (tmp_path / "bzh.txt").write_text("BZh is how this text starts\n")
    assert len(resolve_inputs(inputs(tmp_path / "bzh.txt", "text"))) == 1


def test_packed_json_lines_or_text_fail_before_work(tmp_path):
    """An lz4 file was read as bytes (every line errored, exit 0); a zip of two files kept
    the first's documents and dropped the second's without a word (fsspec reads a zip's
    first file); a tar's headers were glued to each file's first line, which was errored.
    A zip of one file is read."""
    import io
    import tarfile
    import zipfile

    from pipeline.inputs import resolve_inputs

    lines = b'{"text": "one"}\n' * 5

    def zipped(*names: str) -> bytes:
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w") as archive:
            for name in names:
                archive.writestr(name, lines)
        return packed.getvalue()

    def tarred() -> bytes:
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as archive:
            member = tarfile.TarInfo("a.jsonl")
            member.size = len(lines)
            archive.addfile(member, io.BytesIO(lines))
        return packed.getvalue()

    files = {
        "a.jsonl.lz4": (
            b"\x04\x22\x4d\x18" + bytes(60),
            "is lz4-compressed, which tokenmill does not read: decompress it, or compress it "
            "as .gz or .zst",
        ),
        "two.jsonl.zip": (
            zipped("a.jsonl", "b.jsonl"),
            "is a zip archive of 2 files, of which only the first would be read; extract them "
            "(unzip) and give a glob of their files",
        ),
        "pages.tar.gz": (
            tarred(),
            "is a tar archive: extract it (tar -xf) and give a glob of its files",
        ),
    }
    for name, (data, problem) in files.items():
        (tmp_path / name).write_bytes(data)
        for format in ("jsonl", "text"):
            spec = {"source": "s", "format": format, "paths": [str(tmp_path / name)]}
            with pytest.raises(ConfigError) as raised:
                resolve_inputs(config_with(inputs=[spec]))
            assert str(raised.value) == f"inputs[0].paths: {tmp_path / name} {problem}"
    (tmp_path / "one.jsonl.zip").write_bytes(zipped("a.jsonl"))
    spec = {"source": "s", "format": "jsonl", "paths": [str(tmp_path / "one.jsonl.zip")]}
    assert len(resolve_inputs(config_with(inputs=[spec]))) == 1


def test_json_lines_or_text_in_utf16_or_utf32_fail_before_work(tmp_path):
    """PowerShell's `>` writes UTF-16: each line was read as bytes that are not UTF-8, and
    errored. Compressed too, the file is refused; UTF-8 with its byte-order mark is read."""
    from pipeline.inputs import resolve_inputs

    lines = '{"text": "one"}\n' * 5
    files = [
        ("UTF-16", tmp_path / "le.jsonl", lines.encode("utf-16")),
        ("UTF-16", tmp_path / "le.jsonl.gz", gzip.compress(lines.encode("utf-16"))),
        ("UTF-32", tmp_path / "be.txt", b"\0\0\xfe\xff" + lines.encode("utf-32-be")),
    ]
    for encoding, path, data in files:
        path.write_bytes(data)
        format = "text" if path.suffix == ".txt" else "jsonl"
        spec = {"source": "s", "format": format, "paths": [str(path)]}
        with pytest.raises(ConfigError) as raised:
            resolve_inputs(config_with(inputs=[spec]))
        assert str(raised.value) == (
            f"inputs[0].paths: {path} is {encoding} text (it starts with a byte-order mark); "
            f"inputs are read as UTF-8: convert it first (iconv -f {encoding} -t UTF-8)"
        )
    (tmp_path / "bom.jsonl").write_bytes(lines.encode("utf-8-sig"))
    spec = {"source": "s", "format": "jsonl", "paths": [str(tmp_path / "bom.jsonl")]}
    assert len(resolve_inputs(config_with(inputs=[spec]))) == 1


def test_only_regular_files_are_accepted_as_models_and_tokenizers(tmp_path):
    """/dev/zero would be read until memory runs out, a FIFO would block forever."""
    import os

    from tokenizer.bpe import load_tokenizer

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    stages = [{"extract": {}}, {"language": {"model": None}}]
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        assert f"tokenizer.path: not a regular file: {path}" in error_of(tokenizer={"path": path})
        stages[1]["language"]["model"] = path
        assert "stages.language.model: not a regular file" in error_of(stages=stages)
        with pytest.raises(ConfigError, match=r"^not a regular file"):
            load_tokenizer(path)
    assert "tokenizer.path: file not found" in error_of(tokenizer={"path": "absent.json"})
    (tmp_path / "garbage.json").write_text("{")
    assert f"tokenizer.path: {tmp_path / 'garbage.json'}: not a tokenizers JSON file" in error_of(
        tokenizer={"path": str(tmp_path / "garbage.json")}
    )


def test_a_url_whose_file_system_is_not_installed_names_the_extra(monkeypatch):
    # gcsfs as where it is not installed, even where [cloud] put it in this environment.
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "gs", raising=False)
    message = error_of(output="gs://bucket/run")
    assert message.endswith(
        "output: gs://bucket/run: gs:// needs pip install 'tokenmill[cloud]' (adds gcsfs)"
    )
    assert error_of(output="nope://x").endswith("output: nope://x: unknown protocol nope://")
    assert config_with(output="s3://bucket/run").output == "s3://bucket/run"
