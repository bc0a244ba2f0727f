"""A full disk for the tests: a small tmpfs mounted on a folder (root only; CI runs as root),
and a filler file that leaves exactly as many free blocks as a test wants; a read-only one."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(folder: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "2M") mounted on `folder` (read-only if asked: a memory card
    the kernel remounted so, a write-protected stick), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a full or read-only disk is a small tmpfs, which only root may mount")
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def free_blocks(folder: Path) -> tuple[int, int]:
    """(free blocks, block size) of the file system holding `folder`."""
    stat = os.statvfs(folder)
    return stat.f_bavail, stat.f_bsize


def fill(folder: Path, leave_blocks: int = 0) -> Path:
    """Fill the disk but `leave_blocks` with a file in `folder`; return the file."""
    blocks, size = free_blocks(folder)
    filler = folder / "filler"
    with open(filler, "wb") as file:
        file.write(b"\0" * max(0, blocks - leave_blocks) * size)
    assert free_blocks(folder)[0] == leave_blocks
    return filler
