"""The error every config problem raises, and the one way to raise a list of them (defined
here so that any layer can import them without importing the checks)."""


class ConfigError(ValueError):
    """A config value or combination that cannot work; the message says which key to change."""


def raise_config_errors(errors: list[str]) -> None:
    """One :class:`ConfigError` listing every message, if there is any (the one "Invalid config"
    format of every layer)."""
    if errors:
        # The first problem on the first line (it names the key), any others below it.
        raise ConfigError(f"Invalid config: {errors[0]}" + "".join(f"\n  - {e}" for e in errors[1:]))
