"""The error of a checkpoint that cannot be used."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what to do."""
