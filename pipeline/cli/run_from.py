"""Which folder to run a config from, when a path it names is not found: a config's relative
paths are taken from the current folder (README, "Paths"), so a checkout's config run from
elsewhere finds none of the checkout's files."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

PATH_LIKE = re.compile(r"[\w.*?\[\]~+-]*/[\w./*?\[\]~+-]*\w")
NOT_FOUND = ("not found", "matches no file", "no such")


def run_from_hint(message: str, config: str | Path) -> str:
    """'... run from FOLDER, where PATH is', where `message` says a path is not found that
    is there under the config's folder or the one above it; '' otherwise."""
    if not any(words in message.lower() for words in NOT_FOUND):
        return ""
    here = Path.cwd()
    folders = [Path(config).resolve().parent, Path(config).resolve().parent.parent]
    for named in PATH_LIKE.findall(message):
        if glob.glob(named):  # there (the config's own path): not the one missing
            continue
        relative = _relative_to(Path(named), here)
        for folder in folders:
            if folder != here and glob.glob(str(folder / relative)):
                return (
                    f"relative paths are read from the current folder ({here}): run from "
                    f"{folder}, where {relative} is"
                )
    return ""


def _relative_to(path: Path, here: Path) -> Path:
    """`path` as the config named it: an absolute path in a message was made so from `here`
    (`../shared/corpora/...` climbs out of it)."""
    return Path(os.path.relpath(path, here)) if path.is_absolute() else path
