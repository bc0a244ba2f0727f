"""What a capture's savers share: the data set, the near-duplicate check and the counts.

Every save goes through `CaptureSession.offer`, on the frame loop's thread only: the automatic
every-n-th frame, the window's space key and the `--serve` page's buttons (whose requests
`PageRequests` hands to the loop). A frame too like the last one saved for its class (a
still scene, `store/duplicates.py`) is skipped and counted, unless --keep-duplicates. Ctrl-C is held
back while a save is written, so the data set and its manifest always agree.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

from edgecnn.device.loop import deferred_signals
from edgecnn.device.outputs.frame_result import FrameResult
from edgecnn.device.store.capture_record import capture_record, region_of_interest, region_to_save
from edgecnn.device.store.dataset import CaptureDataset, SavedImage
from edgecnn.device.store.duplicates import NearDuplicates, signature

ASK_TIMEOUT_S = 10.0  # how long a page's button waits for the loop's next frame
SKIP_REASONS = {"near_duplicate": "near-duplicate of the last image of its class"}


@dataclass(frozen=True)
class Outcome:
    """What became of one request to save: saved as `image`, or skipped for `skipped`."""

    label: str
    image: SavedImage | None = None
    skipped: str | None = None

    def describe(self) -> str:
        if self.image is not None:
            return f"saved {self.image.file}"
        return f"skipped ({SKIP_REASONS.get(self.skipped or '', self.skipped)})"

    def as_json(self) -> dict:
        saved = self.image.file if self.image is not None else None
        return {"label": self.label, "saved": saved, "skipped": self.skipped}


class CaptureSession:
    """What the loop, the window's keys and the page's buttons share: the data set, the
    near-duplicate check and the counts. `offer` runs on the loop's thread only; `status`
    may be read from any thread."""

    def __init__(
        self,
        dataset: CaptureDataset,
        labels: list[str],
        source: str,
        invert: str,
        keep_duplicates: bool = False,
    ) -> None:
        self.dataset, self.labels, self.source = dataset, labels, source
        self.invert, self.keep_duplicates = invert, keep_duplicates
        self.duplicates = NearDuplicates()
        for label in labels:  # a re-run on the same still scene skips it too
            self.duplicates.remember_file(label, dataset.newest(label))
        self.saved: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.frames = 0
        self.last = ""
        self._lock = threading.Lock()

    @property
    def total_saved(self) -> int:
        return sum(self.saved.values())

    def offer(self, result: FrameResult, label: str, how: str) -> Outcome:
        """Save this frame's region and canvas as `label`, unless it is a near-duplicate.
        `how` goes into the manifest: "auto", "key" or "page"."""
        region = region_of_interest(result)
        sig = signature(region, result.colour_order)
        if not self.keep_duplicates and self.duplicates.is_near_duplicate(label, sig):
            outcome = Outcome(label, skipped="near_duplicate")
            with self._lock:
                self.skipped[outcome.skipped] += 1
                self.last = f"{label}: {outcome.describe()}"
            return outcome
        region = region_to_save(region, result.colour_order)
        record = capture_record(result, self.source, self.invert, how)
        with deferred_signals():
            image = self.dataset.save(label, region, result.canvas, record)
        self.duplicates.remember(label, sig)
        outcome = Outcome(label, image=image)
        with self._lock:
            self.saved[label] += 1
            self.last = outcome.describe()
        return outcome

    def status(self) -> dict:
        """The counts, as the page shows them: in the data set and saved by this run."""
        with self._lock:
            return {
                "labels": list(self.labels),
                "counts": {label: self.dataset.counts[label] for label in self.labels},
                "saved": {label: self.saved[label] for label in self.labels},
                "skipped": dict(self.skipped),
                "frames": self.frames,
                "last": self.last,
            }


class _Ask:
    def __init__(self, label: str) -> None:
        self.label = label
        self.event = threading.Event()
        self.outcome: Outcome | None = None

    def done(self, outcome: Outcome | None) -> None:
        self.outcome = outcome
        self.event.set()


class PageRequests:
    """Saves asked for by the page's buttons (request threads), done by the loop on its next
    frame, so every file is written by the loop's thread."""

    def __init__(self) -> None:
        self._pending: deque[_Ask] = deque()
        self._lock = threading.Lock()
        self.closed = False

    def ask(self, label: str, timeout: float = ASK_TIMEOUT_S) -> Outcome | None:
        """Wait for the loop to save the current frame as `label` (None: the capture ended)."""
        request = _Ask(label)
        with self._lock:
            if self.closed:
                return None
            self._pending.append(request)
        request.event.wait(timeout)
        return request.outcome

    def take(self) -> list[_Ask]:
        with self._lock:
            taken, self._pending = list(self._pending), deque()
        return taken

    def close(self) -> None:
        with self._lock:
            self.closed = True
            left, self._pending = list(self._pending), deque()
        for request in left:
            request.done(None)
