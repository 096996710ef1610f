"""User-facing errors: each becomes exactly one line on stderr and exit status 2.

Also the two wording helpers every error message shares: :func:`excerpt` (a value quoted in a message,
cut to a few dozen characters, so that a huge or hostile input never makes a huge message) and
:func:`did_you_mean` (the hint for a misspelt name).
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any

#: Longest error line printed (characters); longer messages are cut, never wrapped onto more lines.
MAX_MESSAGE_CHARS = 600
#: Longest quoted value inside a message (characters).
MAX_EXCERPT_CHARS = 60

_repr = reprlib.Repr()
_repr.maxstring = MAX_EXCERPT_CHARS
_repr.maxother = MAX_EXCERPT_CHARS
_repr.maxlong = 40
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4
_repr.maxlevel = 2


def excerpt(value: Any) -> str:
    """``repr(value)``, cut to at most about :data:`MAX_EXCERPT_CHARS` characters (``...`` marks a cut).

    reprlib never builds the whole repr first, so this is cheap even for a huge or deeply nested value.
    """
    text = _repr.repr(value)
    if len(text) > MAX_EXCERPT_CHARS + 10:
        text = text[:MAX_EXCERPT_CHARS] + "..."
    return text


def did_you_mean(word: Any, allowed: Iterable[Any]) -> str:
    """``"; did you mean 'x'?"`` for the closest allowed name, or ``""`` when none is close.

    ``word`` itself is never suggested (a name that exists but does not apply needs another hint).
    """
    word = str(word)
    if len(word) > 200:  # difflib is quadratic; such a word is not a typo of a short name
        return ""
    candidates = [str(a) for a in allowed if str(a) != word]
    hint = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{hint[0]}'?" if hint else ""


def one_line(text: str) -> str:
    """Collapse ``text`` onto one line and cut it to :data:`MAX_MESSAGE_CHARS` characters."""
    text = " ".join(str(text).split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


class ArchsimError(Exception):
    """An error caused by the user's input; the CLI prints ``error: <message>`` and exits with 2.

    ``str()`` of the error is always one line of bounded length, whatever the message held.
    """

    exit_status = 2

    def __str__(self) -> str:
        return one_line(super().__str__())


class ConfigError(ArchsimError):
    """A configuration problem located at ``file`` and dotted ``key_path``."""

    def __init__(self, file: str, key_path: str, message: str):
        self.file = str(file)
        self.key_path = key_path or "(top level)"
        self.message = message
        super().__init__(f"{self.file}: {self.key_path}: {message}")


class NonFiniteValues(ValueError):
    """NaN or inf handed to an analog array or a device update (``what``: "inputs", "errors", "weights", ...).

    Raised by the functional layers, which know nothing of the run; the trainer turns it into a
    :class:`NonFiniteError` naming the array that broke, or these values when every array is still finite (e.g. a
    read whose output overflowed float32)."""

    def __init__(self, what: str):
        self.what = what
        super().__init__(f"{what} must be finite")


class NonFiniteError(ArchsimError):
    """A run whose numbers became NaN or infinite: it stops, naming the array and the step, with no report."""

    def __init__(self, array: str, epoch: int, step: int):
        super().__init__(
            f"{array} became non-finite (NaN or inf) at epoch {epoch + 1}, step {step}; the device, "
            "algorithm or learning-rate settings are outside the range the simulation can follow"
        )


class InfeasibleError(ArchsimError):
    """A valid configuration that cannot be built (e.g. the network needs more tiles than the chip has).

    ``key_path`` names the setting that falls short; the run layer adds the file that set it.
    """

    def __init__(self, key_path: str, message: str):
        self.key_path = key_path
        self.message = message
        super().__init__(f"{key_path}: {message}")
