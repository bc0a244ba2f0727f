"""Putting a data set right after a capture that was killed (kill -9, a power cut, a full disk).

A save writes the canvas, then the photo (each under a temporary name, then linked into
place), then the photo's manifest line. Stopped part-way, it leaves one of:

    .000007.k2x9q1ab.tmp.png        a temporary file: removed
    000007.input.png alone          a canvas without its photo: removed
    000007.png + 000007.input.png   a photo without a manifest line, whose polarity is not
                                    known: moved to DATASET/.unrecorded/<label>/ (training
                                    never reads folders starting with '.'), for you to look at
    a last manifest line cut short  (no newline at its end, or not a record): cut off

`reconcile` runs when a capture starts, holding the data set's lock (so no live capture is
mid-save), and says what it did in one sentence. Photos without a canvas beside them are
yours (copied in by hand), never touched; so is everything when there is no manifest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgecnn.manifest import manifest_record

TEMPORARY = re.compile(r"^\.\d+(\.input)?\.[a-z0-9_]{8}\.tmp\.png$")  # AtomicFile's names
PHOTO = re.compile(r"^(\d+)\.png$")
CANVAS = re.compile(r"^(\d+)\.input\.png$")
UNRECORDED = ".unrecorded"


@dataclass
class Repairs:
    """What `reconcile` found and put right."""

    torn_bytes: int = 0
    temporaries: int = 0
    lone_canvases: int = 0
    unrecorded: int = 0

    def describe(self, root: Path) -> str | None:
        done = []
        if self.torn_bytes:
            done.append(f"cut a manifest line left unfinished ({self.torn_bytes} bytes)")
        if self.temporaries:
            done.append(f"removed {self.temporaries} temporary file(s)")
        if self.lone_canvases:
            done.append(f"removed {self.lone_canvases} canvas(es) without their photo")
        if self.unrecorded:
            done.append(
                f"moved {self.unrecorded} photo(s) without a manifest line (their polarity is "
                f"not known) to {root / UNRECORDED}"
            )
        if not done:
            return None
        return f"{root} was left by an interrupted capture: {'; '.join(done)}"


def cut_torn_tail(manifest_fd: int) -> tuple[int, bytes]:
    """Cut a last line that is unfinished (no newline) or not a record; return the bytes cut
    and the manifest as it is then."""
    size = os.fstat(manifest_fd).st_size
    data = os.pread(manifest_fd, size, 0)
    keep = data.rfind(b"\n") + 1  # after the last newline: 0 when there is none
    if keep:
        last = data.rfind(b"\n", 0, keep - 1) + 1
        if manifest_record(data[last:keep]) is None and data[last:keep].strip():
            keep = last  # a whole line, but not a record (a power cut leaves zeros)
    if keep < size:
        os.ftruncate(manifest_fd, keep)
    return size - keep, data[:keep]


def reconcile(root: Path, manifest_fd: int, had_manifest: bool) -> Repairs:
    """Put `root` right (see the module's docstring); the caller holds the data set's lock."""
    repairs = Repairs()
    repairs.torn_bytes, manifest = cut_torn_tail(manifest_fd)
    recorded = {
        record["file"]
        for line in manifest.splitlines()
        if (record := manifest_record(line)) is not None
    }
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        names = set(os.listdir(folder))
        for name in sorted(names):
            if TEMPORARY.match(name):
                (folder / name).unlink(missing_ok=True)
                repairs.temporaries += 1
            elif (canvas := CANVAS.match(name)) and f"{canvas.group(1)}.png" not in names:
                (folder / name).unlink(missing_ok=True)
                repairs.lone_canvases += 1
            elif (
                had_manifest
                and (photo := PHOTO.match(name))
                and f"{photo.group(1)}.input.png" in names
                and f"{folder.name}/{name}" not in recorded
            ):
                move_aside(folder, photo.group(1), root / UNRECORDED / folder.name)
                repairs.unrecorded += 1
    return repairs


def move_aside(folder: Path, number: str, aside: Path) -> None:
    """Move photo `number` and its canvas into `aside`, under a name not taken there."""
    aside.mkdir(parents=True, exist_ok=True)
    stem, copy = number, 1
    while (aside / f"{stem}.png").exists() or (aside / f"{stem}.input.png").exists():
        stem, copy = f"{number}~{copy}", copy + 1
    os.replace(folder / f"{number}.input.png", aside / f"{stem}.input.png")
    os.replace(folder / f"{number}.png", aside / f"{stem}.png")
