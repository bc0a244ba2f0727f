"""The one error type for mistakes a user can cause (bad file, missing data, bad option)."""


class EdgeCnnError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits with code 2.

    The message says what is wrong and what to do about it.
    """
