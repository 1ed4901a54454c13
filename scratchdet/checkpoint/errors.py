"""The error of a checkpoint that cannot be used."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


class CheckpointMismatchError(CheckpointError):
    """A readable checkpoint of another model. ``report`` is the load's report
    (``match_state_dict``): "reinitialized" lists each tensor missing or of another shape, so a
    caller can say more without reading the file again."""

    def __init__(self, message: str, report: dict[str, list]):
        super().__init__(message)
        self.report = report
