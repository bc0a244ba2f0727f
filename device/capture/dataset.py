"""Where `edgecnn capture` saves: a folder per label and a manifest line per image.

    DATASET/<label>/000007.png         the region of interest at full resolution
    DATASET/<label>/000007.input.png   the 28x28 canvas the model would see
    DATASET/manifest.jsonl             one JSON line per image (edgecnn.manifest)

Nothing is ever overwritten: numbers continue after the highest one in the folder, and each
file is written under a temporary name, then linked into place only if the name is free
(`AtomicFile.commit_new`). The manifest line is written last, in one `write` to a file open
for appending, so a line never exists without its two files. A save that fails part-way
removes what it had put in place; `edgecnn capture` holds Ctrl-C back while one runs
(`loop.deferred_signals`), so an interrupt falls between saves.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecnn.atomic import AtomicFile, current_umask
from edgecnn.data import IMAGE_SUFFIXES
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
        try:
            for label in labels:
                folder = self.root / label
                folder.mkdir(parents=True, exist_ok=True)
                photos = [
                    p
                    for p in folder.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and not is_model_input(p)
                ]
                numbers = [int(m.group(1)) for p in photos if (m := NUMBERED.match(p.stem))]
                self.counts[label] = len(photos)
                self._next[label] = max(numbers, default=0) + 1
            self._manifest = self._open_manifest()
        except OSError as exc:
            raise EdgeCnnError(f"cannot write the data set {self.root}: {exc.strerror}") from None

    def _open_manifest(self) -> int:
        path = manifest_path(self.root)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666 & ~current_umask())
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as existing:
                existing.seek(size - 1)
                if existing.read(1) != b"\n":  # a line cut short by a killed run: end it
                    os.write(fd, b"\n")
        return fd

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
            placed: list[Path] = []
            try:
                for target, data in ((input_path_for(path), model_input), (path, photo)):
                    self._place(target, data)
                    placed.append(target)
                saved = SavedImage(
                    label,
                    path.relative_to(self.root).as_posix(),
                    input_path_for(path).relative_to(self.root).as_posix(),
                )
                line = {"file": saved.file, "input": saved.input, "label": label, **record}
                os.write(self._manifest, (json.dumps(line) + "\n").encode("utf-8"))
            except FileExistsError:  # another capture took the number: take the next one
                for done in placed:
                    done.unlink(missing_ok=True)
                continue
            except OSError as exc:
                for done in placed:
                    done.unlink(missing_ok=True)
                raise EdgeCnnError(f"cannot write {path}: {exc.strerror or exc}") from None
            except BaseException:
                for done in placed:
                    done.unlink(missing_ok=True)
                raise
            self.counts[label] += 1
            return saved

    @staticmethod
    def _place(target: Path, data: bytes) -> None:
        file = AtomicFile(target)
        try:
            file.tmp.write_bytes(data)
            file.commit_new()
        finally:
            file.discard()

    def close(self) -> None:
        if self._manifest >= 0:
            os.close(self._manifest)
            self._manifest = -1
