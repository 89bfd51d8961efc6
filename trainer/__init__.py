"""The packaged trainer: model, data loader over token shards, FSDP, checkpoints, training loop."""
