"""Imports that see torch and transformers as not installed.

spaCy imports thinc, and thinc imports torch whenever it is installed (the trainer needs
it), to offer torch-backed models; presidio imports transformers for the same reason, and
transformers imports torch. The quality and pii stages use spaCy's rules and blank
pipelines and presidio's pattern recognizers, never such a model, yet those imports cost
their processes seconds of start-up (1.7 s for torch, 4 s for transformers and torch, on a
2-core machine; on a GPU machine torch also asks CUDA for its devices). So the stages
import spaCy and presidio inside `torch_hidden()`: thinc and presidio then run without
torch and transformers, which stay importable for anything after.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

HIDDEN = ("torch", "transformers")


@contextmanager
def torch_hidden() -> Iterator[None]:
    """Inside, `import torch` and `import transformers` raise ImportError, unless this
    process has loaded them already (then nothing is hidden: thinc may have seen them)."""
    hidden = [name for name in HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # what the import system reads as "not installed"
    try:
        yield
    finally:
        for name in hidden:
            del sys.modules[name]
