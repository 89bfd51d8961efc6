"""Reading failures that pass: a connection cut or refused, a server's 429 or 5xx (Common
Crawl's `https://data.commoncrawl.org` answers 503 "Slow Down" under load), a timeout.

fsspec's HTTP file system tries each request once (s3fs and gcsfs retry their own calls),
so a shard whose reading fails so is run again from its start after a pause, a few times,
before it is reported failed: one cut connection no longer stops a run before its global
phases. A shard's files are written atomically at its end, so a failed attempt leaves
nothing behind.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

RETRY_DELAYS_S = (2.0, 10.0, 30.0)
"""The pauses before each further attempt."""
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

T = TypeVar("T")


def passing_failure(error: BaseException | None) -> BaseException | None:
    """`error`, or the error it was raised from (fsspec's HTTP raises FileNotFoundError
    from a 503), where that is one that passes; None where none is."""
    aiohttp = sys.modules.get("aiohttp")  # fsspec's HTTP loads it; unloaded, it raised nothing
    while error is not None:
        if aiohttp and isinstance(error, aiohttp.ClientResponseError):
            return error if error.status in RETRIED_STATUSES else None
        passing = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) if aiohttp else ()
        if isinstance(error, (*passing, TimeoutError)):
            return error
        error = error.__cause__
    return None


def is_transient(error: BaseException | None) -> bool:
    return passing_failure(error) is not None


def retried(call: Callable[[], T], what: str) -> T:
    """`call()`, called again after each of `RETRY_DELAYS_S` while it fails in a way that
    passes; each such failure is one line on stderr naming `what`."""
    for delay in RETRY_DELAYS_S:
        try:
            return call()
        except Exception as err:
            if not is_transient(err):
                raise
            print(f"{what}: {one_line(err)}; trying again in {delay:g} s", file=sys.stderr)
        time.sleep(delay)
    return call()


def one_line(error: BaseException) -> str:
    """The failure that passes in `error`'s chain, or `error`, on one line (aiohttp's
    messages run over several)."""
    shown = passing_failure(error) or error
    return " ".join(str(shown).split()) or type(shown).__name__
