"""Write files so that they appear whole or not at all (temporary name, then rename)."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from edgecnn.errors import EdgeCnnError


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A file made under a temporary name beside `path` (`.tmp`), renamed onto `path` by
    `commit()` or removed by `discard()`: for outputs written over a long time, such as a
    recorded video. The temporary name keeps the suffix, so libraries that pick a format
    from the file name (Keras, matplotlib, OpenCV) still do the right thing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=f".tmp{self.path.suffix}", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        os.chmod(self.tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs are ordinary

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def commit_new(self) -> None:
        """Like `commit`, but never over an existing file: FileExistsError if `path` exists
        (a hard link, which fails when the name is taken; a check then a rename where the
        file system has no hard links, such as FAT on a memory card)."""
        try:
            os.link(self.tmp, self.path)
        except FileExistsError:
            raise
        except OSError:
            if self.path.exists():
                raise FileExistsError(str(self.path)) from None
            os.replace(self.tmp, self.path)
            return
        self.tmp.unlink()

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.
    A folder that will not take the file (read-only, full, not a folder) is one line
    (`EdgeCnnError`), also when the block's writing fails so; anything else the block raises
    is passed on as it is."""
    try:
        target = AtomicFile(path)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        yield target.tmp
    except OSError as exc:
        target.discard()
        if exc.errno in WRITE_FAILURES:
            raise cannot_write(path, exc) from None
        raise
    except BaseException:
        target.discard()
        raise
    try:
        target.commit()
    except OSError as exc:
        target.discard()
        raise cannot_write(path, exc) from None


# What writing a file can fail with, whoever does the writing (Keras, matplotlib, NumPy).
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO, errno.EACCES}


def cannot_write(path: str | Path, exc: OSError) -> EdgeCnnError:
    return EdgeCnnError(f"cannot write {path}: {exc.strerror or exc}; nothing was written there")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise cannot_write(path, exc) from None


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_new_file(path: str | Path, data: bytes) -> None:
    """Write `data` as the new file `path`, whole or not at all, never over an existing one:
    FileExistsError when the name is taken (`AtomicFile.commit_new`)."""
    file = AtomicFile(path)
    try:
        file.tmp.write_bytes(data)
        file.commit_new()
    finally:
        file.discard()


@contextlib.contextmanager
def new_files(files: Iterable[tuple[Path, bytes]]) -> Iterator[None]:
    """Write each (path, data) in turn with `write_new_file`, then run the block: all or
    none, for files that belong together. When a write or the block fails (a taken name,
    a full disk, an interrupt), the files written so far are removed and the error raised."""
    placed: list[Path] = []
    try:
        for path, data in files:
            write_new_file(path, data)
            placed.append(path)
        yield
    except BaseException:
        for done in placed:
            done.unlink(missing_ok=True)
        raise
