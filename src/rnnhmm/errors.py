"""The package's one-line error for a bad configuration or input file (no imports: any module may
raise it without importing the config machinery)."""

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration problem, described in one line."""
