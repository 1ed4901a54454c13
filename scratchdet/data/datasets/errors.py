class DatasetError(ValueError):
    """Bad dataset input (missing or unreadable file, invalid annotation); the message names the
    file and what to do."""
