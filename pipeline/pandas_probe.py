"""pyarrow's probe for pandas, answered without importing pandas.

The first time a process builds an Arrow array (`pa.array`), pyarrow checks whether pandas
is installed, to tell a pandas Series from a list, and imports it when it is: 0.2 s of
start-up, paid by the driver of a run, by every Ray worker and by every stage's sandbox,
none of which use pandas (it is installed for `datasets` and TRL). `skip_pandas_probe()`
lets that first probe find no pandas. pyarrow asks again whenever pandas is used outright
(`Table.to_pandas`, `Table.from_pandas`), so those still work, and from then on it knows
pandas's types.
"""

from __future__ import annotations

import importlib.abc
import sys

import pyarrow as pa


class _PandasHidden(importlib.abc.MetaPathFinder):
    """An import finder for which pandas is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            raise ModuleNotFoundError("pandas is hidden from pyarrow's probe", name=name)
        return None


def skip_pandas_probe() -> None:
    """Make pyarrow's probe for pandas find none, unless pandas is loaded already (a no-op
    once the probe has run)."""
    if "pandas" in sys.modules:
        return
    # Not `sys.modules["pandas"] = None`: pyarrow's compiled import takes that None as
    # the module.
    finder = _PandasHidden()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])  # the probe
    finally:
        sys.meta_path.remove(finder)
