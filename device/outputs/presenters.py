"""Where results go: JSON lines on stdout, a window, an annotated video file.

(The MJPEG web page is in `mjpeg.py`.) Each presenter gets a `FrameResult` per frame and is
closed once at the end, however the run ended, so every output is finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import cv2

from edgecnn.atomic import AtomicFile
from edgecnn.console import warn
from edgecnn.device.inference.postprocess import Prediction
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.errors import EdgeCnnError
from edgecnn.output_path import check_output_file

RECORD_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
DEFAULT_RECORD_FPS = 10.0
MIN_FREE_BYTES = 4 << 20  # --record stops below this much free space (or four raw frames)


def prediction_record(p: Prediction) -> dict:
    """A prediction as JSON (--json, --mqtt): this frame's label, class id, score and top-k,
    the stable state beside them (null until an answer has held --stable frames), and the
    model's id (the first 12 hex digits of its SHA-256)."""
    stable = p.stable
    return {
        "label": p.label,
        "class_id": p.class_id,
        "score": round(p.score, 4),
        "top": [{"class_id": c.class_id, "label": c.label, "score": c.score} for c in p.top],
        "stable": None
        if stable is None
        else {"label": stable.label, "class_id": stable.class_id, "changed": stable.changed},
        "model": p.model.short if p.model is not None else None,
    }


def result_record(result: FrameResult, latency: bool = True) -> dict:
    """One frame's result as JSON, the one form every output uses: --json prints it and the
    --serve page serves it (with the per-stage latencies), --mqtt publishes it (without).
    `fps` is the loop's frame rate, the figure the overlay draws (null in the first second)."""
    record = {
        "frame": result.index,
        "time": round(result.time, 4),
        **prediction_record(result.prediction),
        "fps": round(result.fps, 1) if result.fps else None,  # None: not measured yet (1 s)
    }
    if latency:
        record["latency_ms"] = {k: round(v, 3) for k, v in result.latency_ms.items()}
    return record


class JsonLinesPresenter(Presenter):
    """One JSON object per frame, one per line, flushed so a pipe sees it at once."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def present(self, result: FrameResult) -> None:
        try:
            self.stream.write(json.dumps(result_record(result)) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop writing, keep the other outputs,
            # and point the descriptor at /dev/null so Python's exit flush stays quiet.
            devnull = open(os.devnull, "w")  # noqa: SIM115
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull.fileno(), self.stream.fileno())
            self.stream = devnull


def display_available() -> tuple[bool, str]:
    """(True, "") when a window can be shown, else (False, why not)."""
    if re.search(r"GUI:\s+NONE", cv2.getBuildInformation()) or not hasattr(cv2, "imshow"):
        return False, "this OpenCV has no GUI (opencv-python-headless): pip install opencv-python"
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False, "no display ($DISPLAY is not set)"
    return True, ""


def wants_window(display: bool | None) -> bool:
    """Whether to show the window (--display/--no-display, `display` None when neither was
    given): asked for (a one-line error when it cannot be shown), or by default when it can."""
    if display is False:
        return False
    available, why = display_available()
    if not available and display:
        raise EdgeCnnError(f"--display: cannot show a window: {why}; use --no-display")
    return available


class WindowPresenter(Presenter):
    """An OpenCV window; q or Esc asks to stop."""

    TITLE = "edgecnn"

    def __init__(self, on_quit: Callable[[], None]) -> None:
        self.on_quit = on_quit

    def present(self, result: FrameResult) -> None:
        cv2.imshow(self.TITLE, result.annotated())
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.on_quit()

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.TITLE)


class VideoRecorder(Presenter):
    """The annotated frames as a video file, written under a temporary name and renamed
    into place on close, so the file is whole and playable whenever the run stopped
    (end of source, --max-frames, SIGINT, SIGTERM).

    OpenCV's writer says nothing when a frame cannot be written (only a warning on stderr),
    so the recorder watches the disk: when less than `min_free_bytes` is left it stops the
    run with one line, and on close it renames the file into place only if OpenCV can play
    it back with every frame. Anything else is removed, and the run fails (exit 2)."""

    SPACE_CHECK_EVERY = 10  # frames between looks at the free space

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        codec = RECORD_CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise EdgeCnnError(
                f"--record {self.path}: use a .mp4 or .avi file name ({', '.join(RECORD_CODECS)})"
            )
        self.fourcc = cv2.VideoWriter_fourcc(*codec)
        self.fps = fps or DEFAULT_RECORD_FPS
        check_output_file(self.path, "--record")
        self.file = AtomicFile(self.path)
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0
        self.failed = False
        self.min_free_bytes = MIN_FREE_BYTES

    def present(self, result: FrameResult) -> None:
        image = result.annotated()
        if self.writer is None:
            height, width = image.shape[:2]
            # Room for a few uncompressed frames and the index written at the end.
            self.min_free_bytes = max(MIN_FREE_BYTES, 4 * image.nbytes)
            self._check_space()
            self.writer = cv2.VideoWriter(
                str(self.file.tmp), self.fourcc, self.fps, (width, height)
            )
            if not self.writer.isOpened():
                self.failed = True
                raise EdgeCnnError(f"OpenCV cannot write video {self.path}: try a .avi name")
        elif self.frames % self.SPACE_CHECK_EVERY == 0:
            self._check_space()
        self.writer.write(image)
        self.frames += 1

    def _check_space(self) -> None:
        try:
            stat = os.statvfs(self.file.tmp.parent)
        except OSError:
            return  # no answer (some network file systems): the check on close remains
        if stat.f_blocks == 0:
            return  # a file system that tells no sizes (some FUSE ones): the check on close
        free = stat.f_bavail * stat.f_frsize
        if free < self.min_free_bytes:
            self.failed = True
            raise EdgeCnnError(
                f"--record {self.path}: the disk is full ({free // 1024} KB free, the video "
                f"needs more): free some space or record elsewhere; nothing was kept"
            )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if not self.frames or self.failed:
            self.file.discard()
            if not self.failed:
                warn(f"no frames were recorded: {self.path} not written")
            return
        if not playable(self.file.tmp, self.frames):
            self.file.discard()
            raise EdgeCnnError(
                f"--record {self.path}: OpenCV could not write a playable video (is the disk "
                "full?): nothing was kept; free some space or record elsewhere"
            )
        self.file.commit()


def playable(path: Path, frames: int) -> bool:
    """Whether OpenCV opens the video at `path`, reads its first frame, and (where the file
    says) counts at least `frames` frames."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened() or not capture.read()[0]:
            return False
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        return count <= 0 or count >= frames
    finally:
        capture.release()
