"""Frame sources: cameras, video files, images, folders, network streams and Picamera2.

Every source is a `FrameSource`: a context manager whose `read()` returns the next frame as a
NumPy array (or None at the end) and that iterates frames. `colour_order` says what the
channels really are ("BGR" for everything OpenCV decodes, "GREY" for single-channel frames),
so preprocessing converts to grey with the right weights.

Live sources (cameras, URLs, Picamera2) survive a drop-out: when a read fails they are
released and reopened with back-off, and the run goes on. Finite sources (video files,
images, folders) end the run cleanly unless asked to loop.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgecnn.console import warn
from edgecnn.data import IMAGE_SUFFIXES, read_picture
from edgecnn.device.sources.picamera import import_picamera2
from edgecnn.errors import EdgeCnnError, first_line, hide_passwords

URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
STREAM_TIMEOUT_MS = 5000
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 5.0


def quiet_opencv_warnings() -> None:
    """Our one-line messages say what went wrong; OpenCV's and FFmpeg's warnings about the
    same failure only confuse. (Set OPENCV_FFMPEG_LOGLEVEL yourself to see FFmpeg's.)"""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL; read on first use
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)


class FrameSource:
    """One interface for every kind of source. Subclasses implement `_read()`."""

    colour_order: str = "BGR"
    fps: float | None = None
    description: str = ""

    def __init__(self) -> None:
        self.stop_event = threading.Event()

    def read(self) -> np.ndarray | None:
        """The next frame, or None when the source has ended (or was stopped)."""
        if self.stop_event.is_set():
            return None
        return self._read()

    def _read(self) -> np.ndarray | None:
        raise NotImplementedError

    def stop(self) -> None:
        """Ask a blocked or reconnecting source to give up (called from signal handlers)."""
        self.stop_event.set()

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame


class PlaylistSource(FrameSource):
    """A finite list of items played in order, once or looped."""

    def __init__(self, items: list, loop: bool) -> None:
        super().__init__()
        self.items, self.loop, self.position = items, loop, 0

    def next_item(self):
        """The next item, or None at the end of a pass that is not looped."""
        if self.position >= len(self.items):
            if not self.loop:
                return None
            self.position = 0
        self.position += 1
        return self.items[self.position - 1]


class ArraySource(PlaylistSource):
    """Frames already in memory (bench, tests); optionally looped."""

    def __init__(
        self, frames: list[np.ndarray], colour_order: str = "BGR", loop: bool = False
    ) -> None:
        if not frames:
            raise EdgeCnnError("no frames to play")
        super().__init__(frames, loop)
        self.colour_order = colour_order
        self.description = f"{len(frames)} frames in memory"

    def _read(self) -> np.ndarray | None:
        return self.next_item()


class ImageFilesSource(PlaylistSource):
    """One image file or every image in a folder (sorted by name), each read once per pass."""

    def __init__(self, paths: list[Path], loop: bool = False) -> None:
        super().__init__(paths, loop)
        self.paths = paths
        self.description = str(paths[0]) if len(paths) == 1 else f"{len(paths)} images"

    def _read(self) -> np.ndarray | None:
        while (path := self.next_item()) is not None:
            try:
                return read_picture(path)  # its size checked from its header first
            except EdgeCnnError as exc:
                if len(self.paths) == 1:
                    raise
                warn(f"skipping {path}: {str(exc).removeprefix(f'{path} ')}")
        return None


class VideoFileSource(FrameSource):
    """A video file decoded by OpenCV (FFmpeg); ends cleanly, or loops for benchmarks."""

    def __init__(self, path: Path, loop: bool = False) -> None:
        super().__init__()
        self.path, self.loop = path, loop
        quiet_opencv_warnings()  # a file FFmpeg cannot read: our line says so, not its WARN
        self.capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self.capture.isOpened():
            raise EdgeCnnError(f"cannot decode video {path}: is it a video file FFmpeg reads?")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else None
        self.description = str(path)
        self.frames_read = 0

    def _read(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        if not ok and self.loop and self.frames_read:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        if not ok:
            return None
        self.frames_read += 1
        return frame

    def close(self) -> None:
        self.capture.release()


class LiveSource(FrameSource):
    """A source that can drop out (camera unplugged, stream server gone): reopen with back-off."""

    def __init__(self) -> None:
        super().__init__()
        self.reopen_count = 0
        self._open_or_fail()

    def _open(self) -> bool:
        raise NotImplementedError

    def _grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def _open_failure(self) -> str:
        raise NotImplementedError

    def _open_or_fail(self) -> None:
        if not self._open():
            self._release()
            raise EdgeCnnError(self._open_failure())

    def _read(self) -> np.ndarray | None:
        frame = self._grab()
        if frame is not None:
            return frame
        return self._reopen()

    def _reopen(self) -> np.ndarray | None:
        delay = BACKOFF_FIRST_S
        while not self.stop_event.is_set():
            self._release()
            warn(f"lost {self.description}; reopening in {delay:g} s")
            if self.stop_event.wait(delay):
                break
            if self._open():
                frame = self._grab()
                if frame is not None:
                    self.reopen_count += 1
                    warn(f"{self.description} is back")
                    return frame
            delay = min(delay * 2, BACKOFF_MAX_S)
        return None

    def close(self) -> None:
        self._release()


class CaptureSource(LiveSource):
    """A V4L2 camera (index or /dev/videoN) or a network stream (RTSP/HTTP MJPEG, via FFmpeg)."""

    def __init__(self, target: int | str) -> None:
        self.target = target
        self.is_url = isinstance(target, str) and target.lower().startswith(URL_SCHEMES)
        self.description = (
            f"camera {target}" if not self.is_url else f"stream {hide_passwords(target)}"
        )
        self.capture: cv2.VideoCapture | None = None
        quiet_opencv_warnings()
        super().__init__()

    def _open(self) -> bool:
        if self.is_url:
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
            ]
            self.capture = cv2.VideoCapture(str(self.target), cv2.CAP_FFMPEG, params)
        else:
            api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
            self.capture = cv2.VideoCapture(self.target, api)
            if self.capture.isOpened():
                self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, 640)
                self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, 480)
        if not self.capture.isOpened():
            return False
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else self.fps
        return True

    def _grab(self) -> np.ndarray | None:
        if self.capture is None:
            return None
        ok, frame = self.capture.read()
        return frame if ok else None

    def _release(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None

    def _open_failure(self) -> str:
        if self.is_url:
            return (
                f"cannot open stream {self.target}: check the URL and that the server is up "
                "(FFmpeg must be able to read it, e.g. ffplay URL)"
            )
        return camera_open_failure(self.target)


def camera_open_failure(target: int | str) -> str:
    """The one-line message for a camera that will not open: what exists and what to try."""
    devices = sorted(glob.glob("/dev/video*"))
    found = ", ".join(devices) if devices else "no /dev/video* devices"
    path = target if isinstance(target, str) else f"/dev/video{target}"
    if devices and os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        fix = (
            f"{path} is not accessible to you: add yourself to the 'video' group "
            "(sudo usermod -aG video $USER) and log in again"
        )
    elif devices:
        fix = (
            "pick one of those with --source; on Raspberry Pi OS Bookworm a CSI camera only "
            "works through libcamera: use --source picamera (python3-picamera2) "
            "or run under libcamerify"
        )
    else:
        fix = (
            "plug in a USB camera, or for a Raspberry Pi CSI camera use --source picamera; "
            "a video file, image folder or URL works too"
        )
    return f"cannot open camera {target} (found: {found}): {fix}"


LORES_LIMIT = (640, 480)  # the low-resolution stream fits in this (width, height)
PICAMERA_SIZE = (640, 480)  # the main stream's size unless `--source picamera:WIDTHxHEIGHT`


def lores_size(main: tuple[int, int], limit: tuple[int, int] = LORES_LIMIT) -> tuple[int, int]:
    """The low-resolution stream's size: the main stream's scaled to fit `limit`, its shape
    kept, both sides even (YUV420 halves them for the colour planes)."""
    scale = min(1.0, limit[0] / main[0], limit[1] / main[1])
    return max(2, int(main[0] * scale) // 2 * 2), max(2, int(main[1] * scale) // 2 * 2)


class PicameraSource(LiveSource):
    """The Raspberry Pi camera through Picamera2/libcamera (Bookworm's camera stack).

    The cheap path: besides the main stream (`size`, RGB888), the camera is asked for a
    low-resolution YUV420 stream ("lores", at most 640x480, the same view) and the frames
    are its Y plane. That plane is the grey the recipe wants, made and scaled by the camera's
    ISP: no colour conversion and no copy of the main stream on the CPU, whatever the main
    stream's size. The preview configuration's colour space (sYCC: full-range BT.601) makes
    it the grey OpenCV computes from the RGB stream. `colour_order` is then "GREY".

    A camera that cannot give the lores stream (a USB camera through libcamera has one
    stream only) gets the main stream alone, with a one-line notice: "RGB888", which
    libcamera names by its 32-bit word layout, stores B, G, R bytes in memory, so those
    frames are in OpenCV's BGR order and `colour_order` is "BGR". Picamera2 is imported
    only when this source is asked for.
    """

    def __init__(self, size: tuple[int, int] = PICAMERA_SIZE) -> None:
        self.size = size
        self.lores = lores_size(size)
        self.description = f"picamera {size[0]}x{size[1]}"
        self.camera = None
        self.colour_order = "BGR"
        self._lores_refused: str | None = None  # why the camera gave no lores stream
        super().__init__()

    def _open(self) -> bool:
        Picamera2 = import_picamera2()  # or a one-line EdgeCnnError: cause and fix
        try:
            self.camera = Picamera2()
            with_lores = self._configure()
            self.camera.start()
        except Exception as exc:  # libcamera raises many types; all mean "no camera"
            self._last_error = first_line(exc)
            self._release()
            return False
        self.colour_order = "GREY" if with_lores else "BGR"
        return True

    def _configure(self) -> bool:
        """Main and lores streams when the camera can; else the main stream alone. Returns
        whether the lores stream is there."""
        main = {"size": self.size, "format": "RGB888"}
        if self._lores_refused is None:
            lores = {"size": self.lores, "format": "YUV420"}
            try:
                self.camera.configure(
                    self.camera.create_preview_configuration(main=main, lores=lores)
                )
                self.lores = tuple(self.camera.camera_config["lores"]["size"])
                return True
            except Exception as exc:  # refused by Picamera2 or libcamera: many types
                self._lores_refused = first_line(exc) or type(exc).__name__
                warn(
                    f"picamera: no low-resolution stream ({self._lores_refused}): using the "
                    "main stream, converted to grey on the CPU"
                )
        self.camera.configure(self.camera.create_preview_configuration(main=main))
        return False

    def _grab(self) -> np.ndarray | None:
        if self.camera is None:
            return None
        try:
            if self.colour_order == "GREY":
                # [h * 3/2, stride]: the Y rows, then the U and V rows
                planes = self.camera.capture_array("lores")
                width, height = self.lores
                grey = planes[:height, :width]
                return grey if grey.shape == (height, width) else None
            frame = self.camera.capture_array()
        except Exception:
            return None
        return frame[:, :, :3] if frame.ndim == 3 and frame.shape[2] == 4 else frame

    def _release(self) -> None:
        if self.camera is not None:
            try:
                self.camera.stop()
                self.camera.close()
            except Exception:
                pass
            self.camera = None

    def _open_failure(self) -> str:
        return (
            f"cannot open the Raspberry Pi camera ({getattr(self, '_last_error', 'unknown')}): "
            "check the ribbon cable and that 'rpicam-hello --list-cameras' lists it"
        )


def picamera_size(spec: str) -> tuple[int, int]:
    """`picamera` or `picamera:WIDTHxHEIGHT` -> the main stream's size."""
    _, _, size = spec.partition(":")
    if not size:
        return PICAMERA_SIZE
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        width = height = 0
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise EdgeCnnError(
            f"--source {spec}: give the camera's size as picamera:WIDTHxHEIGHT "
            "(e.g. picamera:1920x1080), or just picamera for 640x480"
        )
    return width, height


def open_source(spec: str | int, loop: bool = False) -> FrameSource:
    """Open `--source`: camera index, /dev/videoN, video, image, folder, URL or 'picamera'
    ('picamera:WIDTHxHEIGHT' sets the camera's main stream size).

    `loop` replays finite sources forever (benchmarks).
    """
    spec_str = str(spec).strip()
    if spec_str.lower() == "picamera" or spec_str.lower().startswith("picamera:"):
        return PicameraSource(picamera_size(spec_str))
    if spec_str.lower().startswith(URL_SCHEMES):
        return CaptureSource(spec_str)
    if spec_str.isdigit():
        return CaptureSource(int(spec_str))
    if spec_str.startswith("/dev/video"):
        if not os.path.exists(spec_str):
            raise EdgeCnnError(camera_open_failure(spec_str))
        return CaptureSource(spec_str)
    path = Path(spec_str)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise EdgeCnnError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return ImageFilesSource(images, loop)
    if not path.exists():
        raise EdgeCnnError(
            f"source {spec_str} does not exist: give a camera index, /dev/videoN, a video or "
            "image file, a folder of images, a URL or 'picamera'"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFilesSource([path], loop)
    return VideoFileSource(path, loop)
