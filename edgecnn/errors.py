"""The one error type for mistakes a user can cause (bad file, missing data, bad option)."""


class EdgeCnnError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits with code 2.

    The message says what is wrong and what to do about it.
    """


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type's name when it has none), for
    one-line errors that quote what a library said."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip()[:limit] if lines else type(exc).__name__
