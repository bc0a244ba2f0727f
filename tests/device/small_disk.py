"""A full disk for the tests: a small tmpfs mounted on a folder (root only; CI runs as root),
and a filler file that leaves exactly as many free blocks as a test wants."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "2M") mounted on `folder`, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is a small tmpfs, which only root may mount")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
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
