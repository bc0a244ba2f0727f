"""Messages that sent users the wrong way (issue 22, item 9): each now says what is wrong
and what to do, in one line, with nothing else printed around it."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import run_edgecnn


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgecnn: error: "), proc.stderr
    return lines[0]


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "frame.png"
    frame = np.zeros((120, 160, 3), np.uint8)
    cv2.rectangle(frame, (50, 30), (110, 100), (255, 255, 255), -1)
    cv2.imwrite(str(path), frame)
    return path


def test_verify_given_the_keras_model_points_to_the_tflite_and_keras(
    tiny_tflite, tiny_model_dir, tmp_path
) -> None:
    """It said the file "changed since it was converted", inviting --no-verify-hash."""
    for name in ("model.tflite", "model.json"):
        shutil.copy(tiny_tflite.parent / name, tmp_path / name)
    shutil.copy(tiny_model_dir / "model.keras", tmp_path / "model.keras")
    line = one_error_line(run_edgecnn("verify", str(tmp_path / "model.keras")))
    assert "is a Keras model, not a TensorFlow Lite one" in line
    assert f"give {tmp_path / 'model.tflite'}, and --keras {tmp_path / 'model.keras'}" in line
    assert "changed since" not in line and "--no-verify-hash" not in line
    line = one_error_line(run_edgecnn("run", "--model", str(tmp_path / "model.keras")))
    assert f"convert it first (edgecnn convert {tmp_path / 'model.keras'})" in line


def test_train_images_given_a_file_says_it_is_a_file(tmp_path) -> None:
    """It said the folder "does not exist"."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    line = one_error_line(run_edgecnn("train", "--images", str(notes)))
    assert "is a file, not a folder" in line and "does not exist" not in line


def test_labels_that_nothing_can_ask_for_are_refused(picture, tmp_path) -> None:
    """--label a --labels a,b with neither a window nor a page: b could never be saved, and
    the capture went on without a word (and made an empty folder b)."""
    out = tmp_path / "set"
    line = one_error_line(run_edgecnn("capture", "--source", str(picture), "--out", str(out),
                                      "--label", "a", "--labels", "a,b", "--no-display"))  # fmt: skip
    assert "b would be saved when you ask" in line and "leave out --labels" in line
    assert not out.exists()


def test_a_source_ffmpeg_cannot_read_is_one_line_without_opencv_s_warning(tiny_tflite, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    line = one_error_line(run_edgecnn("run", "--model", str(tiny_tflite), "--source", str(notes),
                                      "--no-display"))  # fmt: skip
    assert "cannot decode video" in line
    out = tmp_path / "set"
    proc = run_edgecnn("capture", "--source", str(notes), "--out", str(out), "--label", "a",
                       "--no-display")  # fmt: skip
    assert "cannot decode video" in one_error_line(proc)


def test_counts_read_as_words(tiny_tflite, picture, tmp_path) -> None:
    """It said "5 images saved: saved 5 images" and "1 frames"."""
    from edgecnn.console import counted

    assert (counted(1, "frame"), counted(0, "frame"), counted(5, "image")) == (
        "1 frame", "0 frames", "5 images")  # fmt: skip
    proc = run_edgecnn("run", "--model", str(tiny_tflite), "--source", str(picture),
                       "--no-display")  # fmt: skip
    assert proc.returncode == 0 and "edgecnn: done: 1 frame in" in proc.stderr
    proc = run_edgecnn("capture", "--source", str(picture), "--out", str(tmp_path / "set"),
                       "--label", "a", "--count", "1", "--no-display")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "edgecnn: --count 1 reached: saved 1 image from 1 frame in" in proc.stderr
