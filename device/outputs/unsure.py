"""`run --save-unsure DATASET`: the frames the model is unsure of, kept for a person to label.

A frame whose best score is below --threshold ("unsure") is exactly the one worth labelling
and training on. This presenter saves such frames into the review queue of a capture data
set (`store/unlabelled.py`: DATASET/.unlabelled/, never trained on until labelled), each
with the model's guess, its scores and the capture record a capture would write. At most one
every `--unsure-every` seconds; a frame too like the last one saved (a still scene,
`store/duplicates.py`) is skipped; the queue stops growing at `MAX_UNLABELLED` until it is
reviewed (the capture page's review view, `edgecnn capture --review`).

The loop never waits for the disk: the region and canvas are copied and written by one
writer thread, and a frame that comes while a save is still being written is passed over.
A save that fails (a full disk) is said once, and tried again on a later unsure frame.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgecnn.console import echo, warn
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.device.store.capture_record import capture_record, region_of_interest, region_to_save
from edgecnn.device.store.duplicates import NearDuplicates, signature
from edgecnn.device.store.unlabelled import UnlabelledQueue
from edgecnn.errors import EdgeCnnError

DEFAULT_UNSURE_EVERY = 10.0  # seconds
MAX_UNLABELLED = 1000
DUPLICATE_KEY = "unsure"


class UnsureSaver(Presenter):
    """Saves unsure frames into DATASET/.unlabelled/ (see the module's docstring)."""

    def __init__(
        self,
        dataset: str | Path,
        every: float = DEFAULT_UNSURE_EVERY,
        source: str = "",
        invert: str = "auto",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every < 0:
            raise EdgeCnnError(f"--unsure-every {every:g}: give 0 or more seconds")
        self.queue = UnlabelledQueue(dataset)
        self.every, self.source, self.invert, self.clock = every, source, invert, clock
        self.duplicates = NearDuplicates()
        self.duplicates.remember_file(DUPLICATE_KEY, self.queue.newest_photo())
        self.saved = self.near_duplicates = self.failed = 0
        self._last_saved: float | None = None
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "edgecnn-unsure")
        self._pending: concurrent.futures.Future | None = None
        self._failing = False
        self._full_said = False
        # The queue's length, counted from the folder at start and when it looks full (a
        # review elsewhere empties it), not on every unsure frame: counting globs the folder.
        self._queued = len(self.queue)
        self._counted = clock()

    def present(self, result: FrameResult) -> None:
        p = result.prediction
        if not p.unsure:
            return
        now = self.clock()
        if self._last_saved is not None and now - self._last_saved < self.every:
            return
        if self._pending is not None and not self._pending.done():
            return  # the last one is still being written
        if self._queued >= MAX_UNLABELLED and now - self._counted >= max(self.every, 1.0):
            self._queued, self._counted = len(self.queue), now
        if self._queued >= MAX_UNLABELLED:
            if not self._full_said:
                warn(f"--save-unsure: {self.queue.folder} holds {MAX_UNLABELLED} images to "
                     "label: no more are saved until they are reviewed (edgecnn capture "
                     f"--review --out {self.queue.root} --serve HOST:PORT)")  # fmt: skip
                self._full_said = True
            return
        self._full_said = False
        region = region_of_interest(result)
        sig = signature(region, result.colour_order)
        if self.duplicates.is_near_duplicate(DUPLICATE_KEY, sig):
            self.near_duplicates += 1
            return
        region = region_to_save(region, result.colour_order)
        self._last_saved = now
        self._pending = self._writer.submit(
            self._save, region, result.canvas.copy(), self._record(result), sig
        )

    def _record(self, result: FrameResult) -> dict:
        """The capture record (as `edgecnn capture` writes it) and what the model said."""
        p = result.prediction
        return {
            **capture_record(result, self.source, self.invert, "unsure"),
            "guess": p.top[0].label,
            "score": p.score,
            "top": [{"label": c.label, "score": c.score} for c in p.top],
            "model": p.model.sha256 if p.model is not None else None,
            "labels": list(p.model.labels) if p.model is not None else None,
        }

    def _save(self, region: np.ndarray, canvas: np.ndarray, record: dict, sig) -> None:
        """On the writer thread."""
        try:
            self.queue.save(region, canvas, record)
        except EdgeCnnError as exc:
            self.failed += 1
            if not self._failing:
                warn(f"--save-unsure: {exc}; unsure frames are not saved until it works again")
                self._failing = True
            return
        if self._failing:
            echo(f"edgecnn: --save-unsure: saving unsure frames into {self.queue.folder} again")
            self._failing = False
        self.duplicates.remember(DUPLICATE_KEY, sig)
        self.saved += 1
        self._queued += 1

    def flush(self) -> None:
        """Wait until the save being written (if any) is done."""
        if self._pending is not None:
            self._pending.result()

    def close(self) -> None:
        self._writer.shutdown(wait=True)  # the save being written is finished
        skipped = (
            f", {self.near_duplicates} near-duplicates skipped" if self.near_duplicates else ""
        )
        failed = f", {self.failed} could not be written" if self.failed else ""
        waiting = len(self.queue)
        echo(
            f"edgecnn: --save-unsure: saved {self.saved} unsure frames{skipped}{failed}; "
            f"{waiting} wait for a label in {self.queue.folder}"
            + (
                f" (edgecnn capture --review --out {self.queue.root} --serve 127.0.0.1:8000)"
                if waiting
                else ""
            )
        )
