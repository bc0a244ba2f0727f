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


CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LONG_WORD = re.compile(r"\S{301,}")


def one_line(text: str) -> str:
    """`text` fit for one line of a terminal: control characters a user's input may carry
    (a line break in a file name) shown escaped, words over 300 characters (a pasted
    70,000-character URL) cut in the middle, passwords in URLs hidden."""
    text = hide_passwords(CONTROL.sub(lambda m: repr(m.group())[1:-1], text))
    return LONG_WORD.sub(lambda m: f"{m.group()[:200]}...{m.group()[-60:]}", text)


def hide_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by *** (ftp://u:***@host/...), so
    a message never repeats one."""
    return URL_PASSWORD.sub(r"\g<start>:***@", text)
