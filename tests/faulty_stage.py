"""A stage that misbehaves on purpose, for tests/test_sandbox.py.

A sandbox's child builds its stage from the module and class name, so test stages live in a
module the child can import; this one imports little, because a child pays for its imports
at every restart.
"""

from __future__ import annotations

import os
import signal
import time

import pyarrow as pa

from pipeline.stage import Stage, TimeBudget, Verdict


class Faulty(Stage):
    """Keeps every document, but never returns from a batch holding the text `hang`, dies as
    a segfault in C would on `crash`, raises on `raise`, and takes 20 ms on each `slow`. A
    `heavy` document needs a second's load first (as a language's word rules), once a process."""

    name = "faulty"

    class Params(TimeBudget):
        pass

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.loaded_heavy = False

    def load_for(self, table: pa.Table) -> None:
        if "heavy" in table.column("text").to_pylist() and not self.loaded_heavy:
            time.sleep(1)
            self.loaded_heavy = True

    def process(self, table: pa.Table) -> Verdict:
        self.load_for(table)  # on first need, as the quality stage loads a language's rules
        texts = set(table.column("text").to_pylist())
        if "hang" in texts:
            time.sleep(3600)
        if "crash" in texts:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "raise" in texts:
            raise ValueError("a document this stage cannot take")
        time.sleep(0.02 * table.column("text").to_pylist().count("slow"))
        return Verdict(table)


class LanguageProbe(Stage):
    """Keeps every document and counts, in `languages`, the languages each call is given, and
    in `groups_of_N_LANGUAGE` the calls given N documents of one language; takes 20 ms on
    each `slow`."""

    name = "language_probe"
    group_by = "language"
    Params = TimeBudget

    def process(self, table: pa.Table) -> Verdict:
        languages = set(table.column("language").to_pylist())
        counters = {"languages": len(languages)}
        if len(languages) == 1:
            counters[f"groups_of_{table.num_rows}_{languages.pop()}"] = 1
        time.sleep(0.02 * table.column("text").to_pylist().count("slow"))
        return Verdict(table, counters=counters)
