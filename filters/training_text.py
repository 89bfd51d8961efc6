"""Reading the text that models are trained on, from the files a user has at hand.

- `.txt`: one example per non-empty line; with `wikitext=True` the file is WikiText and
  each detokenised paragraph is an example (headings left out; see filters.wikitext);
- `.jsonl`, `.json` (optionally `.gz`/`.zst`) and `.parquet`: one example per record's
  `text`, with its `language` where the records have one (a run's `OUT/documents/`
  shards qualify).
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from filters.json_lines import read_json_lines
from filters.wikitext import paragraphs
from pipeline.compressed import DAMAGED_STREAM, decompressed_bytes
from pipeline.schema import ConfigError

DOCUMENT_COLUMNS = ("text", "language")


def read_examples(paths: list[str], wikitext: bool = False) -> pa.Table:
    """`text` (and `language` when every input has it) of every example in `paths`."""
    tables = [_read(path, wikitext) for path in paths]
    shared = [c for c in DOCUMENT_COLUMNS if all(c in t.column_names for t in tables)]
    return pa.concat_tables([table.select(shared) for table in tables])


def _read(path: str, wikitext: bool) -> pa.Table:
    if "://" in path:
        raise ConfigError(f"{path}: the models train on local files; copy it here first")
    if not Path(path).is_file():  # a FIFO or a device would block, or be read for ever
        raise ConfigError(f"{path}: {_not_a_file(Path(path))}; give files of examples")
    try:
        table = _table(path, wikitext)
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason})") from None
    except DAMAGED_STREAM as err:  # a compressed file cut or corrupt
        raise ConfigError(f"{path}: cannot be read ({type(err).__name__}: {err})") from None
    except pa.ArrowInvalid as err:
        raise ConfigError(f"{path}: cannot be read ({err})") from None
    if "text" not in table.column_names:
        raise ConfigError(f"{path}: records have no `text` field")
    return table.select([c for c in DOCUMENT_COLUMNS if c in table.column_names])


def _not_a_file(path: Path) -> str:
    if path.is_dir():
        return "a folder"
    return "not a regular file" if path.exists() else "not found"


def _table(path: str, wikitext: bool) -> pa.Table:
    """The file as a table, by its name's extension."""
    name = Path(path).name.removesuffix(".gz").removesuffix(".zst")
    if name.endswith(".txt"):
        if wikitext:
            lines = paragraphs(path)
        else:
            text = io.StringIO(decompressed_bytes(path).decode("utf-8-sig"), newline=None)
            lines = [line.strip() for line in text if line.strip()]
        return pa.table({"text": pa.array(lines, pa.string())})
    if name.endswith(".parquet"):
        return pq.read_table(path)
    if name.endswith((".jsonl", ".json")):
        return read_json_lines(decompressed_bytes(path))
    raise ConfigError(f"{path}: expected .txt, .jsonl, .json or .parquet")
