"""User-facing errors: each carries one line that names what is wrong."""

from __future__ import annotations

import reprlib
from typing import Any

#: Longest echo of a user's value in an error line (longer ones are cut with "...").
MAX_ECHO_CHARS = 80
#: Longest field path or reason in a :class:`ConfigError` line (a safety net for echoed keys).
MAX_PART_CHARS = 200


class PatrolMarlError(Exception):
    """A mistake in user input (a config, a file, a flag).

    The CLI prints ``str(error)`` as one line and exits with code 2.
    """


def one_line(text: str, limit: int = MAX_PART_CHARS) -> str:
    """``text`` with line breaks escaped, cut to ``limit`` characters."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def echo(value: Any, limit: int = MAX_ECHO_CHARS) -> str:
    """``repr(value)`` for an error line: one line, at most ``limit`` characters.

    Long strings and containers are abbreviated before they are repr'd, so a huge
    value (a 20 MB string) is never repr'd whole.
    """
    return one_line(_SHORT_REPR.repr(value), limit)


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxstring = short.maxother = MAX_ECHO_CHARS
    short.maxlong = 40
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 6
    return short


_SHORT_REPR = _short_repr()


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
        source, field, reason = one_line(source), one_line(field), one_line(reason)
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(f"{where}{reason}")
