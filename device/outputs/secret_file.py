"""Secrets the device reads from a file: the `--serve` token, the MQTT password.

Secrets never go on the command line (other users see it in `ps`, the shell keeps it in its
history); they come from an environment variable or a file that only their owner can read (a
warning says so when every user of the machine can read or change it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edgecnn.console import warn
from edgecnn.errors import EdgeCnnError


def read_secret_file(path: str | Path, option: str) -> str:
    """The secret in `path` (one line; surrounding whitespace and the newline dropped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EdgeCnnError(
            f"{option} {path}: cannot read it ({exc.strerror}): give a readable file"
        ) from None
    except UnicodeDecodeError:
        raise EdgeCnnError(
            f"{option} {path}: not a text file: put the secret on one line"
        ) from None
    secret = text.strip()
    if not secret:
        raise EdgeCnnError(f"{option} {path}: the file is empty: put the secret on its first line")
    if "\n" in secret:
        raise EdgeCnnError(f"{option} {path}: holds more than one line: keep only the secret")
    warn_if_exposed(path, option)
    return secret


def exposure(path: str | Path) -> str | None:
    """Who besides its owner (and group) can get at the secret in `path`: "read",
    "change", "read and change", or None when only they can."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    ways = [way for bit, way in ((stat.S_IROTH, "read"), (stat.S_IWOTH, "change")) if mode & bit]
    return " and ".join(ways) or None


def warn_if_exposed(path: str | Path, option: str) -> None:
    """Warn (once, at start) when every user of this machine can read or change the secret."""
    ways = exposure(path)
    if ways is not None:
        warn(
            f"{option} {path}: every user of this machine can {ways} it: chmod 600 {path} "
            "(or chmod o-rwx)"
        )
