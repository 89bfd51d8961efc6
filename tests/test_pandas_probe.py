"""pyarrow's probe for pandas answered without importing it, in fresh processes (a probe
runs once per process)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def python(code: str) -> list[str]:
    """What `code` prints in a fresh Python, split at whitespace."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_arrays_are_built_without_pandas_which_still_works_when_used():
    out = python(
        "import sys\n"
        "import pyarrow as pa\n"
        "from pipeline.pandas_probe import skip_pandas_probe\n"
        "skip_pandas_probe()\n"
        "pa.array(['a', None]); pa.table({'n': [1, 2]})\n"
        "print('pandas' in sys.modules)\n"
        "frame = pa.table({'n': [1, 2]}).to_pandas()\n"
        "print(frame['n'].sum(), pa.Table.from_pandas(frame).num_rows)\n"
        "import pandas as pd\n"
        "categories = pa.array(pd.Series(['x', 'y', 'x'], dtype='category'))\n"
        "print(pa.types.is_dictionary(categories.type))\n"
    )
    assert out == ["False", "3", "2", "True"]


def test_what_a_run_imports_leaves_the_probe_unasked():
    """A module that builds an Arrow array when imported (a constant) would ask pyarrow's
    probe before a run's processes can skip it: the driver's, the shard tasks' and the
    sandboxes' imports, every stage's included, build none."""
    out = python(
        "import sys\n"
        "import pipeline.cli, pipeline.plan, pipeline.shard, pipeline.sandbox\n"
        "import pipeline.stage_registry\n"
        "print('pandas' in sys.modules)\n"
    )
    assert out == ["False"]
