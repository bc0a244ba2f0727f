"""Messages for people, on stderr: stdout belongs to a command's report or JSON lines."""

from __future__ import annotations

import sys

from edgecnn.errors import one_line


def echo(message: str = "") -> None:
    """A progress line (stderr, flushed at once)."""
    print(message, file=sys.stderr, flush=True)


def counted(n: int, noun: str) -> str:
    """ "1 frame", "5 frames", "0 frames": a count and its noun (plural with an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def warn(message: str) -> None:
    """A warning that does not stop the command: `edgecnn: warning: ...` on stderr."""
    echo(f"edgecnn: warning: {one_line(message)}")
