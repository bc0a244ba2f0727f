"""`run --record` onto a disk that fills up: one line, exit 2, and no unplayable file under the
name asked for. (It said "done" and exited 0 after 286 OpenCV warnings, leaving a video that
would not open: "moov atom not found".) The disk is a small tmpfs, really full."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from small_disk import fill, small_disk

from edgecnn.demo.synthvideo import make_video
from edgecnn.device.loop import FrameResult
from edgecnn.device.outputs.presenters import VideoRecorder
from edgecnn.errors import EdgeCnnError


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "items.mp4"
    make_video(path, "light-on-dark", items=20)
    return path


def run_recording(model: Path, video: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "run", "--model", str(model), "--source",
         str(video), "--record", str(out), "--no-display"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("free_kb", [0, 4 * 1024 + 200])
def test_a_disk_that_fills_up_stops_the_run_in_one_line_and_keeps_nothing(
    tiny_tflite, video, tmp_path, free_kb
):
    """No room at the start, and room for a few dozen frames."""
    with small_disk(tmp_path / "disk", "8M") as disk:
        fill(disk, leave_blocks=free_kb // 4)
        out = disk / "videos" / "annotated.mp4"
        out.parent.mkdir()
        proc = run_recording(tiny_tflite, video, out)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"edgecnn: error: --record {out}: the disk is full")
        assert proc.stderr.count("\n") == 1  # no OpenCV warnings: it stopped before them
        assert list(out.parent.iterdir()) == []  # neither the video nor its temporary file


def frame_result(index: int, image: np.ndarray) -> FrameResult:
    return FrameResult(index, 0.0, image, "BGR", image[:28, :28, 0], (0, 0, 28, 28), None,
                       {}, 0.0, _annotated=image)  # fmt: skip


def test_a_video_opencv_could_not_finish_is_not_renamed_into_place(tmp_path):
    """Should the disk fill between two looks at the free space (another program writing),
    the check on close finds the video unplayable and removes it."""
    with small_disk(tmp_path / "disk", "8M") as disk:
        out = disk / "annotated.mp4"
        recorder = VideoRecorder(out, fps=10)
        recorder.SPACE_CHECK_EVERY = 10**9  # the first frame's look only
        rng = np.random.default_rng(0)
        recorder.present(frame_result(0, rng.integers(0, 256, (240, 320, 3), np.uint8)))
        fill(disk)  # now full
        for i in range(1, 60):
            recorder.present(frame_result(i, rng.integers(0, 256, (240, 320, 3), np.uint8)))
        with pytest.raises(EdgeCnnError, match="could not write a playable video"):
            recorder.close()
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_whole_recording_still_lands_under_its_name(tmp_path):
    out = tmp_path / "annotated.avi"
    recorder = VideoRecorder(out, fps=10)
    rng = np.random.default_rng(1)
    for i in range(12):
        recorder.present(frame_result(i, rng.integers(0, 256, (120, 160, 3), np.uint8)))
    recorder.close()
    import cv2

    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 12
    capture.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.avi"]
