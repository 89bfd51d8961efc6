"""Where the shared corpora are: `$TOKENMILL_CORPORA`, else `shared/corpora` beside the
checkout (see its README). Tests skip without them; benchmarks take them as defaults."""

from __future__ import annotations

import os
from pathlib import Path

CORPORA = Path(
    os.environ.get("TOKENMILL_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora")
)
EVAL_WARC = CORPORA / "web" / "trafilatura-eval.warc.gz"
"""The trafilatura evaluation pages, the benchmarks' default input."""
