"""The one frame loop without a model, as `edgecnn capture` runs it: frames are read and
preprocessed, presenters get each result (no prediction), and one of them can stop it."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from edgecnn.demo.objectvideo import class_video
from edgecnn.device.inference.preprocess import Preprocessor, fashion_mnist_input
from edgecnn.device.loop import run_loop
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.device.sources.frames import open_source
from edgecnn.recipe import FashionCanvas


class Keep(Presenter):
    """Keeps what it is shown (copies: the canvas is the loop's buffer)."""

    def __init__(self, stop_after: int | None = None, stop: threading.Event | None = None):
        self.results: list[tuple[FrameResult, np.ndarray]] = []
        self.stop_after, self.stop = stop_after, stop

    def present(self, result: FrameResult) -> None:
        self.results.append((result, result.canvas.copy()))
        if self.stop_after is not None and len(self.results) == self.stop_after:
            self.stop.set()


def test_without_a_model_frames_are_preprocessed_and_presented_to_the_end(tmp_path):
    video = tmp_path / "gear.mp4"
    class_video(video, "gear", instances=3, frames_per_instance=2)
    keep = Keep()
    with open_source(str(video)) as frames:
        stats = run_loop(frames, Preprocessor(fashion_mnist_input()), None, None, [keep])
    assert stats.frames == 6 and stats.source_ended
    capture = cv2.VideoCapture(str(video))
    for index, (result, canvas) in enumerate(keep.results):
        ok, frame = capture.read()
        assert ok and result.index == index and result.prediction is None
        assert set(result.latency_ms) == {"capture", "preprocess", "total"}
        x, y, w, h = result.roi
        assert (x, y, w, h) == (80, 0, 480, 480)  # the centre square of 640x480
        recipe = FashionCanvas()
        np.testing.assert_array_equal(canvas, recipe(frame[y : y + h, x : x + w], "BGR", None))
        assert result.inverted == recipe.inverted


def test_a_presenter_stops_the_loop_between_frames(tmp_path):
    video = tmp_path / "gear.mp4"
    class_video(video, "gear", instances=3, frames_per_instance=2)
    stop = threading.Event()
    keep = Keep(stop_after=4, stop=stop)
    with open_source(str(video)) as frames:
        stats = run_loop(frames, Preprocessor(fashion_mnist_input()), None, None, [keep], stop=stop)
    assert stats.frames == 4 and not stats.source_ended and len(keep.results) == 4
