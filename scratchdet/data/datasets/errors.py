import re

# How torch's DataLoader re-raises an exception from a worker process: it builds the same type
# from "Caught <Type> in DataLoader worker process N.\nOriginal Traceback ...\n<module>.<Type>: <msg>".
_WORKER_WRAPPED = re.compile(r"^Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback")


class DatasetError(ValueError):
    """Bad dataset input (missing or unreadable file, invalid annotation); the message names the
    file and what to do.

    Raised in a data-loader worker, it reaches the main process re-built by torch from the
    worker's whole traceback; the message is then the original one again (the traceback is kept in
    ``worker_traceback``), so that what the user reads first is the file and what to do."""

    def __init__(self, message: str = "", *args):
        self.worker_traceback = None
        if isinstance(message, str) and _WORKER_WRAPPED.match(message):
            name = _WORKER_WRAPPED.match(message).group(1)
            # The original message follows the last "...<name>: " at the start of a line.
            starts = [m.end() for m in re.finditer(rf"^[\w.]*\b{name}: ", message, re.MULTILINE)]
            if starts:
                self.worker_traceback = message
                message = message[starts[-1]:].rstrip("\n")
        super().__init__(message, *args)
