"""The peak memory of a process tree, against what a child is made to hold."""

from __future__ import annotations

import subprocess
import sys

from pipeline.peak_memory import watched_memory


def test_the_peak_counts_a_child_that_has_since_ended():
    hold = "b = bytearray(300 << 20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(1)"
    with watched_memory(interval_s=0.05) as peak:
        subprocess.run([sys.executable, "-c", hold], check=True)
    assert peak.largest > 300 << 20
    assert peak.total >= peak.largest
