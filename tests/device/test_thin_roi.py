"""A region of interest of any shape that fits the frame runs: `--roi 0,0,640,4` gave a
cv2.error traceback and `0,0,640,8` a LinAlgError (the recipe's small copy had no rows, then
a background fitted through one row of pixels)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgecnn.demo.synthvideo import make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "items.mp4"
    make_video(path, "light-on-dark", items=2)  # 640x480
    return path


@pytest.mark.parametrize("roi", ["0,0,640,4", "0,0,640,8", "0,236,640,8", "300,0,2,480"])
def test_a_thin_region_of_interest_runs(tiny_tflite, video, roi):
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "run", "--model", str(tiny_tflite), "--source",
         str(video), "--roi", roi, "--max-frames", "3", "--json", "--no-display"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len([json.loads(line) for line in proc.stdout.splitlines()]) == 3
