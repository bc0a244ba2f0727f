"""Every frame source that can run here: video, image, folder, MJPEG over HTTP, and faults."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from device_ip_camera import FakeIpCamera

from edgecnn.demo.synthvideo import bench_frames, make_video
from edgecnn.device.sources.frames import (
    ArraySource,
    CaptureSource,
    ImageFilesSource,
    VideoFileSource,
    open_source,
)
from edgecnn.errors import EdgeCnnError


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return bench_frames(6)[0]


@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "short.avi"
    make_video(path, "dark-on-light", items=3, frames_per_item=2, seed=2)
    return path


def test_video_file_gives_every_frame_then_ends(short_video: Path) -> None:
    with open_source(str(short_video)) as source:
        assert isinstance(source, VideoFileSource)
        assert source.colour_order == "BGR"
        got = list(source)
    assert len(got) == 6
    assert all(f.shape == (480, 640, 3) and f.dtype == np.uint8 for f in got)


def test_video_file_loops_when_asked(short_video: Path) -> None:
    with open_source(str(short_video), loop=True) as source:
        got = [source.read() for _ in range(15)]
    assert all(f is not None for f in got)


def test_image_file_and_folder(tmp_path: Path, frames: list[np.ndarray]) -> None:
    for i, frame in enumerate(frames[:3]):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), frame)
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(str(tmp_path / "01.png")) as one:
        assert isinstance(one, ImageFilesSource)
        got = list(one)
    assert len(got) == 1 and np.array_equal(got[0], frames[1])
    with open_source(str(tmp_path)) as folder:
        got = list(folder)
    assert [f.shape for f in got] == [(480, 640, 3)] * 3
    assert np.array_equal(got[2], frames[2])


def test_empty_folder_and_missing_path_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(EdgeCnnError, match="holds no images"):
        open_source(str(tmp_path))
    with pytest.raises(EdgeCnnError, match="does not exist: give a camera index"):
        open_source(str(tmp_path / "nope.mp4"))


def test_camera_that_cannot_open_lists_devices_and_fix() -> None:
    with pytest.raises(EdgeCnnError) as error:
        open_source("57")
    message = str(error.value)
    assert "\n" not in message
    assert "cannot open camera 57" in message and "found:" in message
    assert "picamera" in message
    with pytest.raises(EdgeCnnError, match="cannot open camera /dev/video57"):
        open_source("/dev/video57")


def test_picamera_without_picamera2_says_how_to_install() -> None:
    pytest.importorskip("cv2")
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(EdgeCnnError, match="python3-picamera2"):
            open_source("picamera")
    else:  # pragma: no cover - only on a Raspberry Pi
        pytest.skip("Picamera2 is installed here")


def test_mjpeg_stream_over_http(frames: list[np.ndarray]) -> None:
    camera = FakeIpCamera(frames)
    try:
        with open_source(camera.url) as source:
            assert isinstance(source, CaptureSource)
            got = [source.read() for _ in range(5)]
    finally:
        camera.close()
    assert all(f is not None and f.shape == (480, 640, 3) for f in got)
    # JPEG, so not bit-exact; but it is the frame that was sent.
    assert np.abs(got[0].astype(int) - frames[0].astype(int)).mean() < 6


def test_stream_that_drops_out_is_reopened_without_ending_the_run(frames) -> None:
    camera = FakeIpCamera(frames)
    with open_source(camera.url) as source:
        assert source.read() is not None
        camera.fail()
        restart = threading.Timer(1.0, camera.start)
        restart.start()
        started = time.monotonic()
        got = [source.read() for _ in range(3)]
        restart.join()
        assert all(f is not None for f in got), "the source gave up instead of reconnecting"
        assert source.reopen_count >= 1
        assert time.monotonic() - started < 20
    camera.close()


def test_stopping_a_reconnecting_source_ends_it(frames) -> None:
    camera = FakeIpCamera(frames)
    with open_source(camera.url) as source:
        assert source.read() is not None
        camera.fail()
        threading.Timer(0.5, source.stop).start()
        assert source.read() is None


def test_array_source_loops() -> None:
    frames = [np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)]
    source = ArraySource(frames, loop=True)
    assert [int(source.read()[0, 0, 0]) for _ in range(5)] == [0, 1, 0, 1, 0]
    assert list(ArraySource(frames)) and len(list(ArraySource(frames))) == 2
