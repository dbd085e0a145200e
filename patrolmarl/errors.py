"""User-facing errors: each carries one line that names what is wrong."""

from __future__ import annotations


class PatrolMarlError(Exception):
    """A mistake in user input (a config, a file, a flag).

    The CLI prints ``str(error)`` as one line and exits with code 2.
    """


class ConfigError(PatrolMarlError):
    """A district or training config that cannot be used.

    Parameters
    ----------
    source
        The file (or "<overrides>") the bad value came from.
    field
        Dotted path of the offending field, empty if the whole file is bad.
    reason
        What is wrong, in a few words.
    """

    def __init__(self, source: str, field: str, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(f"{where}{reason}")
