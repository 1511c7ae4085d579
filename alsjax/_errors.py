"""The one exception alsjax raises for user mistakes; `cli.py` turns it into one line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ALSJaxError(ValueError):
    """A user-facing error: bad input, unknown name, failed solve.

    The message is one line that names the file, row or field at fault.
    """


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `choices`, or "" when none is close.

    The one home of the suggestion every "unknown name" message ends with.
    """
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


class FitWarning(UserWarning):
    """A fit result that needs a second look: an estimate at its bound, parameters the
    data cannot tell apart, subjects that differ more than the noise allows, float32, a
    profile below the fit's optimum. (Here, beside `ALSJaxError`, so that the profile in
    `_uncertainty` can raise it without importing `_fit`.)"""
