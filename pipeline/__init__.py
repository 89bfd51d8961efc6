"""tokenmill's pipeline: config, the Ray plan, readers, extraction, shards, state and reports."""

__version__ = "0.1.0"
