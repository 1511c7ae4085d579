"""The one exception alsjax raises for user mistakes; `cli.py` turns it into one line."""


class ALSJaxError(ValueError):
    """A user-facing error: bad input, unknown name, failed solve.

    The message is one line that names the file, row or field at fault.
    """
