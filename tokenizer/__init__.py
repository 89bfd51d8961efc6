"""BPE training, special tokens and batch encoding into token shards."""
