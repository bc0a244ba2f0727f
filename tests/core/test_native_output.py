"""TensorFlow's and LiteRT's C++ notices stay off the user's terminal; everything else shows.

Native code writes to the file descriptors, past Python's sys.stderr, so these tests run in
subprocesses with real descriptors (pytest replaces sys.stderr in its own process).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_edgecnn

NOTICE_LINES = re.compile(
    r"INFO: Created TensorFlow Lite|^I0000 |^W0000 |WARNING: All log messages|fully_quantize|"
    r"oneDNN custom operations|cpu_feature_guard|XNNPACK",
    re.MULTILINE,
)

WRITER = """
import os, sys
from edgecnn.native_output import quiet_native_output
with quiet_native_output(capture_stdout=True):
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
    os.write(2, b"I0000 00:00:1732 12345 cpu_feature_guard.cc:210] This TensorFlow binary\\n")
    os.write(2, b"a real problem\\n")
    os.write(1, b"Saved artifact at '/tmp/x'. The following endpoints are available\\n")
print("report")
"""


def run_writer(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WRITER],
        capture_output=True,
        text=True,
        env={**os.environ, "EDGECNN_DEBUG": "", **env},
    )


def test_notices_are_dropped_and_other_lines_pass() -> None:
    proc = run_writer()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "a real problem\n"
    assert proc.stdout == "report\n"  # the converter's chatter does not reach the report


def test_debug_shows_everything_on_stderr() -> None:
    proc = run_writer(EDGECNN_DEBUG="1")
    assert "INFO: Created TensorFlow Lite XNNPACK" in proc.stderr
    assert "cpu_feature_guard" in proc.stderr and "a real problem" in proc.stderr
    assert "Saved artifact" in proc.stderr and proc.stdout == "report\n"


@pytest.mark.slow
def test_the_pipeline_prints_no_native_notice(tiny_tflite: Path, tiny_model_dir, tmp_path):
    """Every command of the demo, as the demo runs them: stderr has our lines only."""
    video = tmp_path / "items.mp4"
    steps = [
        ("train", "--preset", "tiny", "--limit", "600", "--epochs", "1", "--out",
         str(tmp_path / "m")),
        ("convert", str(tmp_path / "m" / "model.keras"), "--eval-samples", "50"),
        ("verify", str(tiny_tflite), "--keras", str(tiny_model_dir / "model.keras"),
         "--limit", "50"),
        ("run", "--model", str(tiny_tflite), "--source", str(video), "--max-frames", "5",
         "--json"),
        ("bench", "--model", str(tiny_tflite), "--frames", "20"),
        ("explain", "--model", str(tiny_tflite), "--model", str(tiny_model_dir / "model.keras"),
         "--test-index", "0", "--out", str(tmp_path / "explain")),
    ]  # fmt: skip
    made = subprocess.run(
        [sys.executable, "-m", "edgecnn.demo.synthvideo", "--out", str(video), "--items", "2"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    for step in steps:
        proc = run_edgecnn(*step, env={"EDGECNN_DEBUG": ""})
        assert proc.returncode == 0, proc.stderr
        notices = NOTICE_LINES.findall(proc.stderr)
        assert not notices, f"edgecnn {step[0]} printed native notices:\n{proc.stderr}"
