"""`edgecnn capture`: your own labelled images, through the camera and preprocessing `run` uses.

Frames from any source `run` accepts go through `run`'s frame loop (`device/loop.py`) and
its `Preprocessor` (region of interest, the Fashion-MNIST recipe, --invert), without a model.
What is saved, into DATASET/<label>/ (`store/dataset.py`), is the region of interest at full
resolution and the 28x28 canvas the model would see, with a line in DATASET/manifest.jsonl.

Three ways to say when to save, each a presenter on the loop (`session.py` does the saving):

* automatic (`--label NAME`): every `--every`-th frame, until `--count` images or the end of
  the source;
* the window (`--labels a,b,c`, when there is a display, `window.py`): number keys choose
  the class, space saves the current frame, and holding space saves a burst;
* the `--serve` page (`page.py`): a button per class saves the current frame, and the
  per-class counts update live.

A file source plays at its own pace when a window or the page shows it (`--pace`, `--loop`:
`sources/pacing.py`), so the page's buttons have frames to save. A capture nobody watches
says how far it has got (`progress.py`). `--review` serves the review view of the data set's
unlabelled images instead, with no camera (`review.py`; the capture page has it too).

SIGINT/SIGTERM stop the loop between frames, so the data set and its manifest always agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.console import counted, echo
from edgecnn.device.capture.progress import CaptureProgress
from edgecnn.device.capture.session import SKIP_REASONS, CaptureSession, PageRequests
from edgecnn.device.capture.window import CaptureWindow, capture_view
from edgecnn.device.inference.preprocess import (
    Preprocessor,
    fashion_mnist_input,
    keep_opencv_on_one_thread,
    parse_roi,
)
from edgecnn.device.loop import StopSignals, run_loop
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.device.outputs.mjpeg import (
    DEFAULT_MAX_CLIENTS,
    ServeOptions,
    serve_options,
    start_page_server,
)
from edgecnn.device.outputs.presenters import wants_window
from edgecnn.device.sources.frames import open_source
from edgecnn.device.sources.pacing import check_loop, pace_source, parse_pace
from edgecnn.device.store.dataset import CaptureDataset, check_label, parse_labels
from edgecnn.errors import EdgeCnnError


@dataclass(frozen=True)
class CaptureOptions:
    """What `edgecnn capture` is asked for (the CLI's options, one field each)."""

    out: Path
    source: str = "0"
    label: str | None = None
    labels: str | None = None
    every: int = 1
    count: int | None = None
    roi: str | None = None
    invert: str = "auto"
    keep_duplicates: bool = False
    serve: str | None = None
    serve_token: str | None = None
    serve_token_file: Path | None = None
    serve_max_clients: int = DEFAULT_MAX_CLIENTS
    display: bool | None = None
    pace: str = "auto"
    loop: bool = False
    review: bool = False


class CaptureEnd:
    """Why the capture ended (the first reason given), and the loop's stop event."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self.why: str | None = None

    def __call__(self, why: str) -> None:
        self.why = self.why or why
        self._stop()


class Saves(Presenter):
    """Every `every`-th frame saved as `auto_label`, and what the page's buttons asked for."""

    def __init__(
        self, session: CaptureSession, requests: PageRequests, auto_label: str | None, every: int
    ) -> None:
        self.session, self.requests = session, requests
        self.auto_label, self.every = auto_label, every

    def present(self, result: FrameResult) -> None:
        if self.auto_label is not None and result.index % self.every == 0:
            self.session.offer(result, self.auto_label, "auto")
        for request in self.requests.take():
            request.done(self.session.offer(result, request.label, "page"))


class PageView(Presenter):
    """The `--serve` page's live view and counts."""

    def __init__(self, show: Callable[[np.ndarray, dict], None], session: CaptureSession) -> None:
        self.show, self.session = show, session

    def present(self, result: FrameResult) -> None:
        self.show(capture_view(result, self.session), self.session.status())


class FrameCount(Presenter):
    """Last on each frame: counts it, and ends the capture once `count` images are saved."""

    def __init__(self, session: CaptureSession, count: int | None, end: CaptureEnd) -> None:
        self.session, self.count, self.end = session, count, end

    def present(self, result: FrameResult) -> None:
        self.session.frames = result.index + 1
        if self.count is not None and self.session.total_saved >= self.count:
            self.end(f"--count {self.count} reached")


def run_capture(options: CaptureOptions) -> dict:
    """Capture labelled images into `options.out`; return the session's status at the end.
    With `review`, serve the review view of `out`'s unlabelled images instead (no camera)."""
    if options.review:
        return review_only(options)
    auto_label, classes = capture_classes(options.label, options.labels)
    if options.every < 1 or (options.count is not None and options.count < 1):
        raise EdgeCnnError("--every and --count take 1 or more")
    serving = serve_options(
        options.serve, options.serve_token, options.serve_token_file, options.serve_max_clients
    )
    window = wants_window(options.display)
    asked_for = [c for c in classes if c != auto_label]  # saved only when someone asks
    if asked_for and not window and serving is None:
        if auto_label is None:
            raise EdgeCnnError(
                "--labels saves when you ask, in a window or on a page, and there is neither: "
                "give --serve HOST:PORT (a page with a button per class), or --label NAME to "
                "save every --every'th frame"
            )
        raise EdgeCnnError(
            f"--labels {options.labels}: {', '.join(asked_for)} would be saved when you ask, in "
            "a window or on a page, and there is neither: leave out --labels (--label "
            f"{auto_label} alone saves every --every'th frame), or give --serve HOST:PORT"
        )
    pace = parse_pace(options.pace)
    keep_opencv_on_one_thread()
    preprocessor = Preprocessor(
        fashion_mnist_input(), roi=parse_roi(options.roi), invert=options.invert
    )
    dataset = CaptureDataset(options.out, classes)
    requests = PageRequests()
    with contextlib.ExitStack() as stack:
        stack.callback(dataset.close)
        stack.callback(requests.close)
        opened = stack.enter_context(open_source(options.source, options.loop))
        check_loop(opened, options.loop)
        frames = pace_source(opened, pace, watched=window or serving is not None)
        signals = stack.enter_context(StopSignals(on_stop=frames.stop))
        end = CaptureEnd(signals.event.set)
        session = CaptureSession(
            dataset, classes, frames.description or str(options.source), options.invert,
            options.keep_duplicates,
        )  # fmt: skip
        presenters: list[Presenter] = [Saves(session, requests, auto_label, options.every)]
        if auto_label is not None:
            headless = not window and serving is None
            progress = CaptureProgress(session, auto_label, options.count, headless)
            stack.callback(progress.close)
            presenters.append(progress)
        if window:
            presenters.append(CaptureWindow(session, on_quit=lambda: end("q")))
            stack.callback(presenters[-1].close)
        if serving is not None:
            presenters.append(PageView(_serve(stack, serving, session, requests), session))
        presenters.append(FrameCount(session, options.count, end))
        stats = run_loop(
            frames, preprocessor, None, None, presenters, stop=signals.event, keep_latencies=False
        )
    if signals.signal_name:
        why = f"stopped by {signals.signal_name}"
    else:
        why = end.why or ("end of source" if stats.source_ended else "stopped")
    status = session.status()
    _summary(options.out, status, why, stats.seconds)
    return status


def review_only(options: CaptureOptions) -> dict:
    """`--review`: the review view of `options.out` alone, on the --serve page."""
    from edgecnn.device.capture.review import serve_review

    if options.serve is None:
        raise EdgeCnnError("--review is a page: give --serve HOST:PORT (e.g. 127.0.0.1:8000)")
    classes = parse_labels(options.labels) if options.labels is not None else None
    serving = serve_options(
        options.serve, options.serve_token, options.serve_token_file, options.serve_max_clients
    )
    return serve_review(options.out, classes, serving)


def capture_classes(label: str | None, labels: str | None) -> tuple[str | None, list[str]]:
    """(the class saved automatically or None, every class of the capture)."""
    auto_label = check_label(label) if label is not None else None
    classes = parse_labels(labels) if labels is not None else []
    if auto_label is None and not classes:
        raise EdgeCnnError(
            "give --label NAME (saves every --every'th frame as NAME) or --labels a,b,c "
            "(saves when you press space in the window or a button on the --serve page)"
        )
    if auto_label is not None and classes and auto_label not in classes:
        raise EdgeCnnError(f"--label {auto_label!r} is not one of --labels {labels!r}: add it")
    return auto_label, classes or [auto_label]


def _serve(
    stack: contextlib.ExitStack,
    serving: ServeOptions,
    session: CaptureSession,
    requests: PageRequests,
) -> Callable[[np.ndarray, dict], None]:
    from edgecnn.device.capture.page import capture_routes
    from edgecnn.device.capture.review import ReviewSession, review_routes

    get_routes, post_routes = capture_routes(session, requests)
    # The review view of the same data set, beside the capture page.
    review_get, review_post = review_routes(ReviewSession(session.dataset.root, session.labels))
    get_routes.update(review_get)
    post_routes.update(review_post)
    server = start_page_server(serving, get_routes, post_routes)
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
        f"edgecnn: {why}: saved {counted(saved, 'image')} from {counted(status['frames'], 'frame')} "
        f"in {seconds:.1f} s "
        f"into {out} ({per_class}){'; ' + skipped if skipped else ''}"
    )
