"""Where submitted jobs may read and write: under the roots the service was started with.

Every path a config holds (inputs, output, models, lists, references, a tokenizer, a
training run's data and checkpoints) must lie under one of them, so a caller can neither
read the host's files into a report's samples nor write anywhere else. The config's
validation asks (`pipeline.schema.PathCheck`) before it looks at any file, so a refused path
is never opened, nor a refused URL fetched. Local paths are compared after symbolic links
are resolved; a URL root (`s3://bucket/team/`) admits the URLs that start with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.schema import ConfigError


class AllowedRoots:
    def __init__(self, roots: list[str]) -> None:
        if not roots:
            raise ConfigError("give at least one --allow-root: where jobs may read and write")
        self.urls = [root.rstrip("/") + "/" for root in roots if "://" in root]
        self.folders = [Path(os.path.realpath(root)) for root in roots if "://" not in root]

    def problem(self, path: str) -> str | None:
        """Why `path` (absolute, or a URL) is refused, or None: a `PathCheck`."""
        if "://" in path:
            admitted = any(path.startswith(root) for root in self.urls)
        elif not os.path.isabs(path):
            return f"{path} is not an absolute path"
        else:
            real = Path(os.path.realpath(path))
            admitted = any(real.is_relative_to(folder) for folder in self.folders)
        return None if admitted else f"{path} is outside the allowed roots"
