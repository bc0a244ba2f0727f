"""A stand-in for Picamera2 where no camera is (tests only; put its folder on PYTHONPATH).

It does what `edgecnn.device.sources.frames.PicameraSource` relies on, as Picamera2 0.3 does
it: configurations as dicts, a low-resolution stream only no larger than the main one and
only in a YUV format (the Pi 4's ISP), `camera_config` after `configure`, and arrays as
`capture_array` returns them: RGB888 as [h, w, 3] in B, G, R byte order, YUV420 as
[h * 3/2, stride] (the Y rows, then the U and V rows; the stride padded to 64 bytes, the
padding filled with 255 so that a reader who does not cut it off sees it).

The scene is generated camera frames of Fashion-MNIST test items (`scene(index, size)`), one
per capture. Environment: FAKE_PICAMERA2_LOG=path appends one JSON line per call;
FAKE_PICAMERA2_LORES=refuse makes `configure` refuse a lores stream, as a camera with one
stream does.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np

SCENE_ITEMS = 6
_scenes: list[np.ndarray] = []


def scene(index: int, size: tuple[int, int]) -> np.ndarray:
    """The BGR frame the camera sees at capture `index`, at `size` (width, height)."""
    if not _scenes:
        from edgecnn.demo.synthvideo import pick_items, render

        images, labels = pick_items(SCENE_ITEMS, seed=8)
        _scenes.extend(frame for frame, _ in render(images, labels, "light-on-dark", 1, seed=8))
    frame = _scenes[index % len(_scenes)]
    return frame if frame.shape[1::-1] == size else cv2.resize(frame, size)


def y_plane(index: int, size: tuple[int, int], lores: tuple[int, int]) -> np.ndarray:
    """The Y plane of the lores stream: the scene scaled by the ISP, full-range BT.601."""
    small = cv2.resize(scene(index, size), lores, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)


def _log(event: str, **fields) -> None:
    path = os.environ.get("FAKE_PICAMERA2_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"event": event, **fields}) + "\n")


def _stream(defaults: dict, given: dict | None) -> dict | None:
    return None if given is None else {**defaults, **given}


class Picamera2:
    def __init__(self, camera_num: int = 0) -> None:
        self.camera_config: dict | None = None
        self.started = False
        self.captures = 0
        _log("open")

    def create_preview_configuration(self, main=None, lores=None, **kwargs) -> dict:
        main = _stream({"format": "XBGR8888", "size": (640, 480)}, main or {})
        lores = _stream({"format": "YUV420", "size": main["size"]}, lores)
        return {"use_case": "preview", "colour_space": "sYCC", "main": main, "lores": lores}

    def create_video_configuration(self, main=None, lores=None, **kwargs) -> dict:
        main = _stream({"format": "XBGR8888", "size": (1280, 720)}, main or {})
        lores = _stream({"format": "YUV420", "size": main["size"]}, lores)
        limited = "SMPTE170M" if main["size"][0] < 1280 else "Rec709"
        return {"use_case": "video", "colour_space": limited, "main": main, "lores": lores}

    def configure(self, config: dict) -> None:
        main, lores = dict(config["main"]), config.get("lores")
        _log("configure", use_case=config["use_case"], colour_space=config["colour_space"],
             main=main, lores=lores)  # fmt: skip
        if lores is not None:
            lores = dict(lores)
            if os.environ.get("FAKE_PICAMERA2_LORES") == "refuse":
                raise RuntimeError(f"Configuration failed: {config}")
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
            width, height = lores["size"]
            lores["size"] = (width - width % 2, height - height % 2)
        self.camera_config = {"main": main, "lores": lores}

    def start(self) -> None:
        self.started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        _log("capture", stream=name)
        if not self.started or self.camera_config is None:
            raise RuntimeError("Camera not started")
        stream = self.camera_config.get(name)
        if stream is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        index, self.captures = self.captures, self.captures + 1
        size = tuple(self.camera_config["main"]["size"])
        if name == "main":
            frame = scene(index, size)
            if stream["format"] == "XBGR8888":
                return np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
            return frame.copy()
        width, height = stream["size"]
        stride = -(-width // 64) * 64
        planes = np.full((height * 3 // 2, stride), 255, np.uint8)
        planes[:height, :width] = y_plane(index, size, (width, height))
        planes[height:, : width // 2 * 2] = 128  # U and V, two half rows to a row
        return planes

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        _log("close")
