"""`edgecnn capture`: your own labelled images, through the camera and preprocessing `run` uses.

Every frame of any source `run` accepts goes through the same `Preprocessor` (region of
interest, the Fashion-MNIST recipe, --invert), without a model. What is saved, into
DATASET/<label>/ (`capture_dataset`), is the region of interest at full resolution and the
28x28 canvas the model would see, with a line in DATASET/manifest.jsonl.

Three ways to say when to save, all in one loop:

* automatic (`--label NAME`): every `--every`-th frame, until `--count` images or the end of
  the source;
* the window (`--labels a,b,c`, when there is a display): number keys choose the class, space
  saves the current frame, and holding space saves a burst (one frame per key repeat);
* the `--serve` page: a button per class saves the current frame (`POST /capture`,
  `capture_page`), and the per-class counts update live.

A frame too like the last one saved for its class (a still scene, `duplicates`) is skipped
and counted, unless --keep-duplicates. Saves happen on the loop's thread only, with Ctrl-C
held back while one is written; SIGINT/SIGTERM stop the loop between frames, so the data set
and its manifest always agree.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from edgecnn.console import echo
from edgecnn.device.capture.dataset import CaptureDataset, SavedImage, check_label, parse_labels
from edgecnn.device.capture.duplicates import NearDuplicates, signature
from edgecnn.device.inference.preprocess import (
    Preprocessor,
    SeenInput,
    fashion_mnist_input,
    keep_opencv_on_one_thread,
    parse_roi,
)
from edgecnn.device.loop import StopSignals, deferred_signals
from edgecnn.device.outputs.annotate import (
    SURE_COLOUR,
    TEXT_COLOUR,
    UNSURE_COLOUR,
    bgr_copy,
    draw_inset,
    draw_roi,
    draw_text,
    text_scale,
)
from edgecnn.device.outputs.mjpeg import (
    DEFAULT_MAX_CLIENTS,
    ServeOptions,
    serve_options,
    start_page_server,
)
from edgecnn.device.sources.frames import FrameSource, open_source
from edgecnn.errors import EdgeCnnError
from edgecnn.manifest import POLARITIES
from edgecnn.recipe import RECIPE_VERSION

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
            newest = dataset.newest(label)
            picture = cv2.imread(str(newest), cv2.IMREAD_UNCHANGED) if newest else None
            if picture is not None:
                self.duplicates.remember(label, signature(picture))
        self.saved: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.frames = 0
        self.last = ""
        self._lock = threading.Lock()

    @property
    def total_saved(self) -> int:
        return sum(self.saved.values())

    def offer(
        self,
        frame: np.ndarray,
        colour_order: str,
        seen: SeenInput,
        inverted: bool,
        frame_index: int,
        label: str,
        how: str,
    ) -> Outcome:
        """Save this frame's region and canvas as `label`, unless it is a near-duplicate."""
        x, y, w, h = seen.roi
        region = frame[y : y + h, x : x + w]
        sig = signature(region, colour_order)
        if not self.keep_duplicates and self.duplicates.is_near_duplicate(label, sig):
            outcome = Outcome(label, skipped="near_duplicate")
            with self._lock:
                self.skipped[outcome.skipped] += 1
                self.last = f"{label}: {outcome.describe()}"
            return outcome
        if colour_order == "RGB" and region.ndim == 3:
            region = cv2.cvtColor(region, cv2.COLOR_RGB2BGR)
        record = {
            "source": self.source,
            "frame": frame_index,
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "roi": [int(v) for v in seen.roi],
            "frame_size": [int(frame.shape[1]), int(frame.shape[0])],
            "polarity": POLARITIES[bool(inverted)],
            "invert": self.invert,
            "recipe": "fashion_mnist",
            "recipe_version": RECIPE_VERSION,
            "how": how,
        }
        with deferred_signals():
            image = self.dataset.save(label, region, seen.canvas, record)
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


class CaptureKeys:
    """The window's keys: 1-9 (0 for the tenth) choose the class, space saves, q/Esc quits."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.selected = 0

    @property
    def label(self) -> str:
        return self.labels[self.selected]

    def action(self, key: int) -> str | None:
        """ "save", "quit" or None for the key code `key` (a number key selects a class)."""
        key &= 0xFF
        if key in (ord("q"), 27):
            return "quit"
        if key == ord(" "):
            return "save"
        if ord("0") <= key <= ord("9"):
            index = (key - ord("1")) % 10  # "0" is the tenth
            if index < len(self.labels):
                self.selected = index
        return None


def capture_view(
    frame: np.ndarray,
    colour_order: str,
    seen: SeenInput,
    session: CaptureSession,
    selected: str | None,
) -> np.ndarray:
    """The frame with the region of interest and the canvas drawn on; for the window (a
    `selected` class) also the keys' classes, their counts and the last save (the page
    shows those itself)."""
    image = bgr_copy(frame, colour_order)
    status = session.status()
    skipped = "skipped" in status["last"]
    draw_roi(image, seen.roi, UNSURE_COLOUR if skipped else SURE_COLOUR)
    draw_inset(image, seen.canvas)
    if selected is None:
        return image
    scale = text_scale(image)
    head = f"{selected}: {status['counts'][selected]}  (space saves)"
    draw_text(image, head, (10, int(34 * scale)), SURE_COLOUR, scale)
    small = max(0.5, scale * 0.7)
    counts = "  ".join(
        f"{i + 1 if i < 9 else 0}:{label} {status['counts'][label]}"
        for i, label in enumerate(status["labels"][:10])
    )
    draw_text(image, counts, (10, int(34 * scale + 30 * small)), TEXT_COLOUR, small)
    if status["last"]:
        colour = UNSURE_COLOUR if skipped else TEXT_COLOUR
        draw_text(image, status["last"], (10, int(34 * scale + 60 * small)), colour, small)
    return image


class CaptureWindow:
    """The OpenCV window with the keys of `CaptureKeys`."""

    TITLE = "edgecnn capture"

    def __init__(self, labels: list[str]) -> None:
        self.keys = CaptureKeys(labels)

    def show(self, image: np.ndarray) -> str | None:
        cv2.imshow(self.TITLE, image)
        return self.keys.action(cv2.waitKey(1))

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.TITLE)


def capture_loop(
    source: FrameSource,
    preprocessor: Preprocessor,
    session: CaptureSession,
    *,
    auto_label: str | None = None,
    every: int = 1,
    count: int | None = None,
    requests: PageRequests | None = None,
    window: CaptureWindow | None = None,
    show: Callable[[np.ndarray, dict], None] | None = None,
    stop: threading.Event | None = None,
) -> str:
    """Capture until the source ends, `count` images are saved, q, or `stop`; say which."""
    stop = stop or threading.Event()
    index = 0
    while not stop.is_set():
        frame = source.read()
        if frame is None:
            return "end of source"
        order = source.colour_order
        seen = preprocessor.process(frame, order)
        # offer(label, how): save this frame as `label`
        offer = functools.partial(session.offer, frame, order, seen, preprocessor.inverted, index)
        if auto_label is not None and index % every == 0:
            offer(auto_label, "auto")
        for request in requests.take() if requests else ():
            request.done(offer(request.label, "page"))
        if window is not None or show is not None:
            selected = window.keys.label if window is not None else None
            image = capture_view(frame, order, seen, session, selected)
            if window is not None:
                action = window.show(image)
                if action == "save":
                    offer(window.keys.label, "key")
                elif action == "quit":
                    return "q"
            if show is not None:
                show(image, session.status())
        index += 1
        session.frames = index
        if count is not None and session.total_saved >= count:
            return f"{count} images saved"
    return "stopped"


def run_capture(
    out: Path,
    source: str = "0",
    label: str | None = None,
    labels: str | None = None,
    every: int = 1,
    count: int | None = None,
    roi: str | None = None,
    invert: str = "auto",
    keep_duplicates: bool = False,
    serve: str | None = None,
    serve_token: str | None = None,
    serve_token_file: Path | None = None,
    serve_max_clients: int = DEFAULT_MAX_CLIENTS,
    display: bool | None = None,
) -> dict:
    """Capture labelled images into `out`; return the session's status at the end."""
    auto_label = check_label(label) if label is not None else None
    classes = parse_labels(labels) if labels is not None else []
    if auto_label is None and not classes:
        raise EdgeCnnError(
            "give --label NAME (saves every --every'th frame as NAME) or --labels a,b,c "
            "(saves when you press space in the window or a button on the --serve page)"
        )
    if auto_label is not None and classes and auto_label not in classes:
        raise EdgeCnnError(f"--label {auto_label!r} is not one of --labels {labels!r}: add it")
    classes = classes or [auto_label]
    if every < 1 or (count is not None and count < 1):
        raise EdgeCnnError("--every and --count take 1 or more")
    serving = (
        serve_options(serve, serve_token, serve_token_file, serve_max_clients)
        if serve is not None
        else None
    )
    window = _window(classes, display)
    if auto_label is None and window is None and serving is None:
        raise EdgeCnnError(
            "--labels saves when you ask, in a window or on a page, and there is neither: give "
            "--serve HOST:PORT (a page with a button per class), or --label NAME to save "
            "every --every'th frame"
        )
    keep_opencv_on_one_thread()
    preprocessor = Preprocessor(fashion_mnist_input(), roi=parse_roi(roi), invert=invert)
    dataset = CaptureDataset(out, classes)
    requests = PageRequests()
    with contextlib.ExitStack() as stack:
        stack.callback(dataset.close)
        stack.callback(requests.close)
        if window is not None:
            stack.callback(window.close)
        frames = stack.enter_context(open_source(source))
        signals = stack.enter_context(StopSignals(on_stop=frames.stop))
        description = frames.description or str(source)
        session = CaptureSession(dataset, classes, description, invert, keep_duplicates)
        show = None
        if serving is not None:
            show = _serve(stack, serving, session, requests)
        started = time.perf_counter()
        why = capture_loop(
            frames, preprocessor, session, auto_label=auto_label, every=every, count=count,
            requests=requests, window=window, show=show, stop=signals.event,
        )  # fmt: skip
        if signals.signal_name:
            why = f"stopped by {signals.signal_name}"
    status = session.status()
    _summary(out, status, why, time.perf_counter() - started)
    return status


def _window(classes: list[str], display: bool | None) -> CaptureWindow | None:
    from edgecnn.device.outputs.presenters import display_available

    if display is False:
        return None
    available, why = display_available()
    if not available:
        if display:
            raise EdgeCnnError(f"--display: cannot show a window: {why}; use --no-display")
        return None
    return CaptureWindow(classes)


def _serve(
    stack: contextlib.ExitStack,
    serving: ServeOptions,
    session: CaptureSession,
    requests: PageRequests,
) -> Callable[[np.ndarray, dict], None]:
    from edgecnn.device.capture.page import capture_routes

    server = start_page_server(serving, *capture_routes(session, requests))
    stack.callback(server.close)
    return server.show


def _summary(out: Path, status: dict, why: str, seconds: float) -> None:
    saved = sum(status["saved"].values())
    per_class = ", ".join(
        f"{label} +{status['saved'][label]} = {status['counts'][label]}"
        for label in status["labels"]
    )
    skipped = "; ".join(
        f"skipped {n} ({SKIP_REASONS.get(reason, reason)})"
        for reason, n in sorted(status["skipped"].items())
    )
    echo(
        f"edgecnn: {why}: saved {saved} images from {status['frames']} frames in {seconds:.1f} s "
        f"into {out} ({per_class}){'; ' + skipped if skipped else ''}"
    )
