"""`--log-format json`: what a run prints, as one JSON object per line, for log collectors.

`JsonLog` is a rich Console (what every part of a run prints through) that writes each
message as `{"time", "message"}`, and a progress line with its numbers as fields too
(`step`, `done`, `total`, `elapsed_s`, `eta_s`, and the running count, e.g. `documents`).
Tables are rendered as plain text into `message`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console


class JsonLog(Console):
    def __init__(self, file=None) -> None:
        super().__init__(
            file=file or sys.stderr,
            force_terminal=False,
            no_color=True,
            width=200,
            markup=False,
            emoji=False,
        )

    def print(self, *objects: Any, sep: str = " ", **_: Any) -> None:
        self.event(sep.join(self._plain(item) for item in objects))

    def event(self, message: str, **fields: Any) -> None:
        """One line: the time, the message and any `fields`."""
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "message": message}
        self.file.write(json.dumps({**record, **fields}, ensure_ascii=False) + "\n")
        self.file.flush()

    def _plain(self, item: Any) -> str:
        if isinstance(item, str):  # text as text, as `pipeline.console` prints it
            return item
        with self.capture() as captured:  # a table, a panel: its text
            super().print(item)
        return captured.get().rstrip("\n")
