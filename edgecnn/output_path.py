"""Where a command will write, checked before it does its work.

A read-only mount, a file where a folder is wanted (or the other way round), a folder the
user may not write: said in one line when the command starts, not as a traceback after a
training run or a conversion. Nothing is created by the check; the outputs themselves are
still written whole or not at all (`edgecnn.atomic`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgecnn.errors import EdgeCnnError


def check_output_folder(path: str | Path, option: str) -> Path:
    """Refuse `path` as a folder for outputs (`option`, e.g. "--out", names it in the
    message) when it is a file, lies under a file, or its file system or permissions will
    not take a new file. The folder need not exist yet."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EdgeCnnError(f"{option} {path} is a file: give a folder (it is made if missing)")
    existing = nearest_existing(path, f"{option} {path}")
    if not existing.is_dir():
        raise EdgeCnnError(f"{option} {path}: {existing} is a file, not a folder")
    probe(existing, f"{option} {path}")
    return path


def check_output_file(path: str | Path, option: str) -> Path:
    """Refuse `path` as an output file when it is a folder, or its folder cannot be written
    (as `check_output_folder`). An existing file is fine: it is replaced whole."""
    path = Path(path)
    if path.is_dir():
        raise EdgeCnnError(f"{option} {path} is a folder: give a file name")
    existing = nearest_existing(path.parent, f"{option} {path}")
    if not existing.is_dir():
        raise EdgeCnnError(f"{option} {path}: {existing} is a file, not a folder")
    probe(existing, f"{option} {path}")
    return path


def nearest_existing(path: Path, what: str) -> Path:
    """`path`, or its nearest ancestor that exists (what a mkdir -p would start from); a
    link to nothing on the way is refused (mkdir would find the name taken)."""
    path = path.absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
        if candidate.is_symlink():
            raise EdgeCnnError(
                f"{what}: {candidate} is a link to {os.readlink(candidate)}, which does not "
                "exist: make its target, or give another path"
            )
    return Path(path.anchor)


def probe(folder: Path, what: str) -> None:
    """Make and remove an empty file in `folder`: the one honest test of whether a new file
    can go there (os.access is wrong for root, ACLs and some network file systems)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".edgecnn-probe.", dir=folder)
    except OSError as exc:
        raise EdgeCnnError(
            f"cannot write {what}: {exc.strerror or exc} ({folder}): pick a folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(name)
