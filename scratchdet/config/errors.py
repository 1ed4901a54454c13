"""The error every config problem raises (defined here so that any layer can import it without
importing the checks)."""


class ConfigError(ValueError):
    """A config value or combination that cannot work; the message says which key to change."""
