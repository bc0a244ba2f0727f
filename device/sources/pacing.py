"""Files at their own pace (`--pace`): a video plays at its frame rate when a person watches.

A camera or a stream gives frames at its own pace. A file (a video, an image, a folder of
images) gives the next frame as soon as it is asked: right for a batch job, wrong for a
person watching a window or the --serve page, who would see a 10 FPS video go by at 500 FPS
and end in a second. So `--pace`:

    auto      realtime when a person watches (a window, or --serve), else fast (the default)
    realtime  the file's own frame rate (a video's FPS; images: one per second)
    fast      as fast as the loop takes frames
    N         N frames per second

Paced, frame k of the file is due k/rate seconds after the first. A loop that is early waits
for it; one that falls behind catches up by taking the next frames at once, and one that is
more than `MAX_LAG_S` behind skips to the present, as a camera drops the frames nobody read:
those frames are counted (`skipped`), the figure a model swap is measured by. `--loop` plays
a file again from its start, forever; the clock runs on across the turns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from edgecnn.console import echo, warn
from edgecnn.device.sources.frames import FrameSource, LiveSource, VideoFileSource
from edgecnn.errors import EdgeCnnError

PACES = ("auto", "realtime", "fast")
IMAGE_FPS = 1.0  # realtime for images: a slide show
UNKNOWN_VIDEO_FPS = 25.0  # a video that does not say its frame rate
MAX_LAG_S = 0.5


def parse_pace(text: str) -> str | float:
    """`--pace auto|realtime|fast|N` -> the name, or N frames per second."""
    name = str(text).strip().lower()
    if name in PACES:
        return name
    try:
        rate = float(name)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and 0 < rate <= 1000):
        raise EdgeCnnError(
            f"--pace {text!r}: give auto, realtime, fast or frames per second (e.g. 10)"
        )
    return rate


class PacedSource(FrameSource):
    """`source` (a file) played at `rate` frames per second."""

    def __init__(
        self,
        source: FrameSource,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        """`clock` and `wait(seconds) -> stopped?` are time.monotonic and the stop event's
        wait unless a test gives its own."""
        super().__init__()
        self.source, self.rate = source, rate
        self._clock, self._wait = clock, wait or self.stop_event.wait
        self.colour_order = source.colour_order
        self.fps = rate
        self.description = source.description
        self.skipped = 0  # frames dropped because the loop was more than MAX_LAG_S behind
        self._start: float | None = None
        self._position = 0  # the next frame's number on the file's clock

    def _due(self, position: int) -> float:
        assert self._start is not None
        return self._start + position / self.rate

    def _read(self) -> np.ndarray | None:
        now = self._clock()
        if self._start is None:
            self._start = now
        late = now - self._due(self._position)
        if late < 0:
            if self._wait(-late):
                return None
        elif late > MAX_LAG_S:
            behind = int(late * self.rate)
            for _ in range(behind):
                if self.source.read() is None:
                    return None
            self.skipped += behind
            self._position += behind
        frame = self.source.read()
        self._position += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()

    def close(self) -> None:
        self.source.close()


def pace_source(source: FrameSource, pace: str | float, watched: bool) -> FrameSource:
    """`source` paced as `--pace` asks (`watched`: a window or a page shows the frames);
    live sources come back as they are (a warning when a pace was asked of one)."""
    if isinstance(source, LiveSource):
        if pace not in ("auto", "fast"):
            warn(f"--pace {pace}: {source.description} gives frames at its own pace")
        return source
    if pace == "fast" or (pace == "auto" and not watched):
        return source
    if isinstance(pace, float):
        rate = pace
    elif not isinstance(source, VideoFileSource):
        rate = IMAGE_FPS
    elif source.fps is None:
        rate = UNKNOWN_VIDEO_FPS
        warn(f"{source.description} does not say its frame rate: playing it at {rate:g} FPS "
             "(--pace N sets it)")  # fmt: skip
    else:
        rate = source.fps
    if pace == "auto":
        echo(f"edgecnn: playing {source.description} at {rate:g} FPS, its own pace, for the "
             "window or page (--pace fast: as fast as it goes)")  # fmt: skip
    return PacedSource(source, rate)


def check_loop(source: FrameSource, loop: bool) -> None:
    """--loop replays files; a live source has no start to go back to (a warning)."""
    if loop and isinstance(source, LiveSource):
        warn(f"--loop: {source.description} is live, there is nothing to replay")
