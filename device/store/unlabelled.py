"""Frames waiting for a label: the review queue of a capture data set, DATASET/.unlabelled/.

`edgecnn run --save-unsure DATASET` puts here the frames the model was unsure of, each with
the model's guess (`outputs/unsure.py`); the capture page's review view shows them one by one,
and each is filed into its class, as a capture would have saved it (the class folder and a
manifest line, `CaptureDataset.save`), or discarded. Training never reads a folder whose name
starts with '.', so nothing here is trained on before a person has labelled it.

    DATASET/.unlabelled/unsure-20260101-120301-123.png         the region of interest
    DATASET/.unlabelled/unsure-20260101-120301-123.input.png   the 28x28 canvas the model saw
    DATASET/.unlabelled/unsure-20260101-120301-123.json        the capture record and what
                                                               the model said

Each file is written under a temporary name and linked into place (never over another);
the record goes last, so an image is in the queue exactly when its record is there. Filing
one writes the class's image and manifest line first (which name the queue entry it came
from), then removes the entry: a run killed in between leaves an entry the manifest already
holds, which the next `tidy` removes rather than offering it twice.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from edgecnn.atomic import new_files
from edgecnn.device.store.dataset import CaptureDataset, SavedImage, png_bytes
from edgecnn.errors import EdgeCnnError
from edgecnn.manifest import input_path_for, read_manifest

QUEUE_FOLDER = ".unlabelled"
ENTRY = re.compile(r"^unsure-\d{8}-\d{6}-\d{3}(-\d+)?$")
STALE_SECONDS = 60.0  # an image without its record this old was never finished


@dataclass(frozen=True)
class UnlabelledImage:
    """One entry of the queue: its id (the file stem) and its record."""

    id: str
    record: dict

    @property
    def guess(self) -> str | None:
        return self.record.get("guess")

    def as_json(self) -> dict:
        """What the review page shows of it."""
        keep = ("guess", "score", "top", "time", "source", "model")
        return {"id": self.id, **{k: self.record.get(k) for k in keep}}


class UnlabelledQueue:
    """The review queue of the data set at `root` (made on first save)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.folder = self.root / QUEUE_FOLDER
        if self.root.exists() and not self.root.is_dir():
            raise EdgeCnnError(f"{self.root} is a file: give a folder for the data set")

    def _paths(self, entry_id: str) -> tuple[Path, Path, Path]:
        """(photo, canvas, record) of an entry; an id that is not one is refused."""
        if not ENTRY.match(entry_id):
            raise EdgeCnnError(f"no unlabelled image {entry_id!r}")
        photo = self.folder / f"{entry_id}.png"
        return photo, input_path_for(photo), photo.with_suffix(".json")

    def save(self, region: np.ndarray, canvas: np.ndarray, record: dict) -> str:
        """Put a frame's region (BGR) and canvas in the queue with `record`; its id."""
        photo, model_input = png_bytes(region), png_bytes(canvas)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeCnnError(f"cannot make {self.folder}: {exc.strerror or exc}") from None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
        for copy in range(1, 1000):
            entry_id = f"unsure-{stamp}" + (f"-{copy}" if copy > 1 else "")
            paths = self._paths(entry_id)
            text = json.dumps({**record, "id": entry_id}, indent=1).encode("utf-8")
            try:
                with new_files(zip(paths, (photo, model_input, text), strict=True)):
                    pass  # the record goes last: the entry is in the queue once all are
                return entry_id
            except FileExistsError:  # that instant is taken: the next name
                pass
            except OSError as exc:
                raise EdgeCnnError(f"cannot write {paths[0]}: {exc.strerror or exc}") from None
        raise EdgeCnnError(f"cannot name a new image in {self.folder}")

    def entries(self) -> list[UnlabelledImage]:
        """Every image waiting for a label, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for record_path in sorted(self.folder.glob("unsure-*.json")):
            if not ENTRY.match(record_path.stem):
                continue
            record = _read_record(record_path)
            if record is not None and (self.folder / f"{record_path.stem}.png").is_file():
                found.append(UnlabelledImage(record_path.stem, record))
        return found

    def __len__(self) -> int:
        if not self.folder.is_dir():
            return 0
        return sum(1 for p in self.folder.glob("unsure-*.json") if ENTRY.match(p.stem))

    def newest_photo(self) -> Path | None:
        """The photo of the newest entry (near-duplicates are judged against it)."""
        entries = self.entries()
        return self._paths(entries[-1].id)[0] if entries else None

    def read(self, entry_id: str) -> tuple[np.ndarray, np.ndarray, dict]:
        """(photo, canvas, record) of an entry; a one-line error when it is not there."""
        photo_path, canvas_path, record_path = self._paths(entry_id)
        record = _read_record(record_path)
        if record is None:
            raise EdgeCnnError(f"no unlabelled image {entry_id!r} (labelled already?)")
        photo = cv2.imread(str(photo_path), cv2.IMREAD_UNCHANGED)
        canvas = cv2.imread(str(canvas_path), cv2.IMREAD_UNCHANGED)
        if photo is None or canvas is None:
            raise EdgeCnnError(f"the unlabelled image {entry_id!r} is not readable: discard it")
        return photo, canvas, record

    def file(self, entry_id: str, label: str, dataset: CaptureDataset) -> SavedImage:
        """File the entry into `label` of `dataset` (its folder and manifest), then take it
        out of the queue."""
        photo, canvas, record = self.read(entry_id)
        queue_only = ("id", "how", "labels", "file", "input", "label")
        kept = {k: v for k, v in record.items() if k not in queue_only}
        saved = dataset.save(
            label, photo, canvas, {**kept, "how": "review", "unlabelled": entry_id}
        )
        self._remove(entry_id)
        return saved

    def discard(self, entry_id: str) -> None:
        """Take the entry out of the queue, its files too."""
        if not self._paths(entry_id)[2].is_file():  # (a bad id is refused)
            raise EdgeCnnError(f"no unlabelled image {entry_id!r} (labelled already?)")
        self._remove(entry_id)

    def _remove(self, entry_id: str) -> None:
        photo, canvas, record = self._paths(entry_id)
        record.unlink(missing_ok=True)  # out of the queue from here on
        photo.unlink(missing_ok=True)
        canvas.unlink(missing_ok=True)

    def tidy(self) -> int:
        """Remove what an interrupted save or filing left: entries the manifest already holds,
        images whose record never came (older than a minute), temporary files. How many."""
        if not self.folder.is_dir():
            return 0
        filed = {r.get("unlabelled") for r in read_manifest(self.root)}
        removed = 0
        for entry in self.entries():
            if entry.id in filed:
                self._remove(entry.id)
                removed += 1
        now = time.time()
        for path in self.folder.iterdir():
            stem = path.name.split(".")[0] if not path.name.startswith(".") else ""
            unfinished = path.name.startswith(".") and ".tmp" in path.name
            orphan = (
                ENTRY.match(stem) is not None
                and path.suffix == ".png"
                and not (self.folder / f"{stem}.json").exists()
            )
            with contextlib.suppress(OSError):
                if (unfinished or orphan) and now - path.stat().st_mtime > STALE_SECONDS:
                    path.unlink()
                    removed += 1
        return removed


def _read_record(path: Path) -> dict | None:
    """An entry's record; None when it is gone (filed meanwhile by another page) or not ours."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
