"""Where `edgecnn capture` saves: a folder per label and a manifest line per image.

    DATASET/<label>/000007.png         the region of interest at full resolution
    DATASET/<label>/000007.input.png   the 28x28 canvas the model would see
    DATASET/manifest.jsonl             one JSON line per image (edgecnn.manifest)

Nothing is ever overwritten: numbers continue after the highest one in the folder, and each
file is written under a temporary name, then linked into place only if the name is free
(`atomic.new_files`). The manifest line is written last, to a file open for appending,
so a line never exists without its two files. A save that fails part-way (a full disk: a
line written short) removes what it had put in place, the line's start included;
`edgecnn capture` holds Ctrl-C back while one runs (`loop.deferred_signals`), so an
interrupt falls between saves. What a kill -9 or a power cut leaves is put right when the
next capture starts (`reconcile`). Captures into one data set may run at once: each save,
and the reconciling, holds a lock on the manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecnn.atomic import current_umask, new_files
from edgecnn.console import warn
from edgecnn.data import IMAGE_SUFFIXES
from edgecnn.device.store.reconcile import reconcile
from edgecnn.errors import EdgeCnnError
from edgecnn.manifest import input_path_for, is_model_input, manifest_path

NUMBER_DIGITS = 6
MAX_LABEL_LENGTH = 64
NUMBERED = re.compile(r"^(\d+)$")
BAD_LABEL_CHARACTERS = re.compile(r"[/\\:*?\"<>|\x00-\x1f]")


def check_label(name: str) -> str:
    """`name` as a class folder name, or a one-line error saying what to change."""
    name = str(name).strip()
    if not name:
        raise EdgeCnnError("an empty class label: give a name such as 'wrench'")
    if len(name) > MAX_LABEL_LENGTH or name.startswith(".") or BAD_LABEL_CHARACTERS.search(name):
        raise EdgeCnnError(
            f"class label {name!r}: use up to {MAX_LABEL_LENGTH} letters, digits, spaces, "
            "'-' or '_' (it becomes a folder name), not starting with '.'"
        )
    return name


def parse_labels(text: str) -> list[str]:
    """`--labels a,b,c` -> ["a", "b", "c"], each checked, none twice."""
    labels = [check_label(part) for part in str(text).split(",")]
    if len(set(labels)) != len(labels):
        raise EdgeCnnError(f"--labels {text!r} names a class twice: give each once")
    return labels


def png_bytes(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise EdgeCnnError("OpenCV could not encode a PNG")
    return buffer.tobytes()


@dataclass(frozen=True)
class SavedImage:
    label: str
    file: str  # relative to the data set: <label>/000007.png
    input: str  # <label>/000007.input.png


class CaptureDataset:
    """Saves captured images of `labels` into `root`, appending to what is there."""

    def __init__(self, root: str | Path, labels: Sequence[str]) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise EdgeCnnError(f"--out {self.root} is a file: give a folder for the data set")
        self.counts: dict[str, int] = {}
        self._next: dict[str, int] = {}
        self._manifest = -1
        try:
            for label in labels:
                (self.root / label).mkdir(parents=True, exist_ok=True)
            had_manifest = manifest_path(self.root).is_file()
            self._manifest = self._open_manifest()
            with self._locked():
                repaired = reconcile(self.root, self._manifest, had_manifest).describe(self.root)
                for label in labels:
                    self._count(label)
        except OSError as exc:
            self.close()
            raise EdgeCnnError(f"cannot write the data set {self.root}: {exc.strerror}") from None
        if repaired:
            warn(repaired)

    def _count(self, label: str) -> None:
        folder = self.root / label
        photos = [
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES
            and not is_model_input(p)
            and not p.name.startswith(".")
        ]
        numbers = [int(m.group(1)) for p in photos if (m := NUMBERED.match(p.stem))]
        self.counts[label] = len(photos)
        self._next[label] = max(numbers, default=0) + 1

    def _open_manifest(self) -> int:
        path = manifest_path(self.root)
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666 & ~current_umask())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The data set to this process alone (another capture's saves wait), for a save or
        the reconciling; a file system without locks (some network ones) goes without."""
        try:
            fcntl.flock(self._manifest, fcntl.LOCK_EX)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(self._manifest, fcntl.LOCK_UN)

    def _append_line(self, line: bytes) -> None:
        """Append one manifest line whole, or not at all: a write cut short (a full disk)
        is undone and raises OSError."""
        start = os.fstat(self._manifest).st_size
        try:
            written = 0
            while written < len(line):
                count = os.write(self._manifest, line[written:])
                if count <= 0:
                    raise OSError(28, os.strerror(28))  # ENOSPC: nothing more goes in
                written += count
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(self._manifest, start)
            raise

    def newest(self, label: str) -> Path | None:
        """The last image saved for `label` (by number), if any."""
        number = self._next[label] - 1
        path = self.root / label / f"{number:0{NUMBER_DIGITS}d}.png"
        return path if number > 0 and path.is_file() else None

    def save(self, label: str, region: np.ndarray, canvas: np.ndarray, record: dict) -> SavedImage:
        """Write the region, its canvas and their manifest line (`record` adds to it)."""
        photo, model_input = png_bytes(region), png_bytes(canvas)
        while True:
            number = self._next[label]
            self._next[label] += 1
            path = self.root / label / f"{number:0{NUMBER_DIGITS}d}.png"
            with self._locked():
                saved = self._save_as(path, label, photo, model_input, record)
            if saved is not None:
                self.counts[label] += 1
                return saved

    def _save_as(
        self, path: Path, label: str, photo: bytes, model_input: bytes, record: dict
    ) -> SavedImage | None:
        """Save under `path`, all or nothing; None when another capture took its number."""
        image = SavedImage(
            label,
            path.relative_to(self.root).as_posix(),
            input_path_for(path).relative_to(self.root).as_posix(),
        )
        line = {"file": image.file, "input": image.input, "label": label, **record}
        try:
            # Failed or interrupted, the line included: what was put in place goes.
            with new_files(((input_path_for(path), model_input), (path, photo))):
                self._append_line((json.dumps(line) + "\n").encode("utf-8"))
        except FileExistsError:  # another capture took the number: take the next one
            return None
        except OSError as exc:
            raise EdgeCnnError(f"cannot write {path}: {exc.strerror or exc}") from None
        return image

    def close(self) -> None:
        if self._manifest >= 0:
            os.close(self._manifest)
            self._manifest = -1
