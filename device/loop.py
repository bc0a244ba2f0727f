"""The frame loop: capture, preprocess, classify, postprocess, present — and nothing else.

One loop for `edgecnn run`, `bench` and `capture` (which runs it without a model: frames are
preprocessed and presented, not classified). Timing and frame-rate bookkeeping live in
`StageClock` and `FrameRate`, stopping on SIGINT/SIGTERM in `StopSignals`; the loop body reads
top to bottom. Presenters are called with a `FrameResult` (`outputs/frame_result.py`) and
never reach back into the loop; one that wants the loop to stop sets its `stop` event.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgecnn.device.inference.postprocess import Postprocessor
from edgecnn.device.inference.preprocess import Preprocessor
from edgecnn.device.inference.runtime import Runtime
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.device.sources.frames import FrameSource

if TYPE_CHECKING:
    from edgecnn.device.pipeline import Pipeline

STAGES = ("capture", "preprocess", "inference", "postprocess")


class StageClock:
    """Per-stage latencies of one frame, in milliseconds."""

    def __init__(self) -> None:
        self.latency_ms: dict[str, float] = {}
        self._last = 0.0

    def start(self) -> None:
        self.latency_ms = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.latency_ms[stage] = (now - self._last) * 1000.0
        self._last = now

    def finish(self) -> dict[str, float]:
        self.latency_ms["total"] = sum(self.latency_ms.values())
        return self.latency_ms


class FrameRate:
    """Frames per second, the one figure every output shows (the overlay, the page, JSON):
    frames counted over a window of `WINDOW_S`, the figure renewed once per window, so the
    page's header and a frame drawn a moment before or after say the same number (a figure
    from each frame's own interval jitters by tens of percent). 0 until the first window is
    full: not measured yet."""

    WINDOW_S = 1.0

    def __init__(self) -> None:
        self.fps = 0.0
        self._window_start: float | None = None
        self._frames = 0

    def tick(self) -> float:
        now = time.perf_counter()
        if self._window_start is None:
            self._window_start = now
            return self.fps
        self._frames += 1
        elapsed = now - self._window_start
        if elapsed >= self.WINDOW_S:
            self.fps = self._frames / elapsed
            self._window_start, self._frames = now, 0
        return self.fps


class StopSignals:
    """While active, SIGINT/SIGTERM ask the loop (and a reconnecting source) to stop cleanly.

    A second signal interrupts at once (KeyboardInterrupt).
    """

    def __init__(self, on_stop: Callable[[], None] | None = None) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._on_stop = on_stop
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        if self._on_stop:
            self._on_stop()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """SIGINT/SIGTERM wait until the block is done (a file and its record are written whole),
    then reach the handlers they would have reached. In the main thread only: elsewhere
    Python runs no signal handlers anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, _frame: caught.append(signum)) for s in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught:
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL and signum == signal.SIGINT:
                raise KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


@dataclass
class LoopStats:
    frames: int = 0
    seconds: float = 0.0
    source_ended: bool = False
    latency_ms: dict[str, list[float]] = field(
        default_factory=lambda: {s: [] for s in (*STAGES, "total")}
    )
    keep_latencies: bool = True

    def add(self, latency_ms: dict[str, float]) -> None:
        self.frames += 1
        if self.keep_latencies:
            for stage, value in latency_ms.items():
                self.latency_ms[stage].append(value)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_loop(
    source: FrameSource,
    preprocessor: Preprocessor,
    runtime: Runtime | None,
    postprocessor: Postprocessor | None,
    presenters: Sequence[Presenter] = (),
    max_frames: int | None = None,
    stop: threading.Event | None = None,
    keep_latencies: bool = True,
    swaps: Callable[[], Pipeline | None] | None = None,
) -> LoopStats:
    """Classify frames until the source ends, `max_frames` or `stop` is set.

    Without a `runtime` (and `postprocessor`) frames are only preprocessed: the presenters
    get results without a prediction (`edgecnn capture`). `swaps()`, asked before each
    frame, gives a new model's pieces when one is ready (model hot reload,
    `device/reload.py`): they are taken between two frames."""
    stop = stop or threading.Event()
    clock, rate = StageClock(), FrameRate()
    stats = LoopStats(keep_latencies=keep_latencies)
    started = time.perf_counter()
    while not stop.is_set() and (max_frames is None or stats.frames < max_frames):
        if swaps is not None and (new := swaps()) is not None:
            preprocessor, runtime, postprocessor = new.preprocessor, new.runtime, new.postprocessor
        clock.start()
        frame = source.read()
        if frame is None:
            stats.source_ended = True
            break
        clock.lap("capture")
        # Straight into the interpreter's input tensor: the view must be dropped at once
        # (the interpreter refuses to invoke while one is held), so it is never named.
        seen = preprocessor.process(
            frame, source.colour_order, out=runtime.input_tensor() if runtime else None
        )
        clock.lap("preprocess")
        prediction = None
        if runtime is not None:
            scores = runtime.run()
            clock.lap("inference")
            prediction = postprocessor(scores)
            clock.lap("postprocess")
        result = FrameResult(
            stats.frames, time.time(), frame, source.colour_order, seen.canvas, seen.roi,
            prediction, clock.finish(), rate.tick(), preprocessor.inverted,
        )  # fmt: skip
        for presenter in presenters:
            presenter.present(result)
        stats.add(result.latency_ms)
    stats.seconds = time.perf_counter() - started
    return stats
