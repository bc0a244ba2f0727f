"""`make device-install` sets a device up without TensorFlow; `make install` on a Pi says so."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_ON_A_DEVICE = {"tensorflow", "tensorflow-cpu", "keras", "tf-keras", "tensorboard"}


def make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_device_install_brings_runtime_and_opencv_but_no_tensorflow(tmp_path, wheel) -> None:
    venv = tmp_path / "device venv"
    proc = make("device-install", f"DEVICE_VENV={venv}", f"DEVICE_FROM={wheel}")
    assert proc.returncode == 0, proc.stderr
    assert "(device, no TensorFlow)" in proc.stdout  # a 64-bit machine without Picamera2
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True, text=True,
    )  # fmt: skip
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not installed & NOT_ON_A_DEVICE
    assert {"edgecnn", "numpy", "opencv-python-headless", "ai-edge-litert", "aiohttp"} <= installed
    # The installed wheel has what a device uses, the service unit's template included.
    model = tmp_path / "model.tflite"
    model.write_bytes(b"")
    unit = subprocess.run(
        [str(venv / "bin" / "edgecnn"), "service", "--model", str(model), "--user", "nobody"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert unit.returncode == 0 and "Restart=on-failure" in unit.stdout, unit.stderr


def test_make_install_on_a_raspberry_pi_points_to_device_install(tmp_path) -> None:
    venv = tmp_path / "venv"
    proc = make("install", "IS_PI=yes", f"VENV={venv}")
    assert proc.returncode != 0
    assert "make device-install" in proc.stderr and "without TensorFlow" in proc.stderr
    assert not venv.exists()
