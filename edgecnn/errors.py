"""The one error type for mistakes a user can cause (bad file, missing data, bad option)."""

import re

# scheme://user:password@ (the password runs to the netloc's last '@')
URL_PASSWORD = re.compile(r"(?P<start>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*):[^\s/]*@")


class EdgeCnnError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits with code 2.

    The message says what is wrong and what to do about it.
    """


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type's name when it has none), for
    one-line errors that quote what a library said."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip()[:limit] if lines else type(exc).__name__


def hide_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by *** (ftp://u:***@host/...), so
    a message never repeats one."""
    return URL_PASSWORD.sub(r"\g<start>:***@", text)
