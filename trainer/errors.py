"""The error a training run stops with when its inputs are bad: token shards or checkpoints.

Its message is one line naming the file or folder at fault, so `tokenmill train` and
`python -m trainer.train` print it without a traceback and exit non-zero. This module
imports nothing, so the CLI can catch the error without loading torch.
"""


class TrainingError(Exception):
    """A run that cannot start or go on; the message names the file or folder to look at."""
