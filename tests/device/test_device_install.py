"""`make device-install` sets a device up without TensorFlow; `make install` on a Pi says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    ("os", "bits", "python", "machine", "picamera2", "extra"),
    [
        ("Pi OS 13 64-bit, Picamera2", 64, (3, 13), "aarch64", True, "litert"),
        ("Pi OS 13 64-bit, USB webcam", 64, (3, 13), "aarch64", False, "device"),
        ("Pi OS 13 32-bit on a Pi 4 (64-bit kernel)", 32, (3, 13), "aarch64", True, "none"),
        ("Pi OS 13 32-bit on a Pi 3", 32, (3, 13), "armv7l", False, "none"),
        ("Pi OS 12 32-bit", 32, (3, 11), "armv7l", True, "tflite-runtime"),
        ("Pi OS 12 32-bit on a Pi Zero (ARMv6)", 32, (3, 11), "armv6l", False, "none"),
        ("Pi OS 12 64-bit, Picamera2", 64, (3, 11), "aarch64", True, "litert"),
    ],
)
def test_device_install_picks_the_extra_the_pi_page_gives(
    os, bits, python, machine, picamera2, extra
) -> None:
    from edgecnn.device.install_extra import choose_extra

    assert choose_extra(bits, python, machine, picamera2) == extra, os


def test_device_install_extra_runs_on_the_standard_library_alone() -> None:
    """The OS's python3 runs it before edgecnn (or NumPy) is installed."""
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / "device" / "install_extra.py")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "device"  # this x86-64 machine has no Picamera2


def test_device_install_with_no_runtime_needs_the_os_numpy_and_opencv(tmp_path) -> None:
    """DEVICE_EXTRA=none (32-bit Pi OS 13, ARMv6) keeps the OS's NumPy and OpenCV: a Python
    without them is told what to install, and no venv is made."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    venv = tmp_path / "device venv"
    proc = make("device-install", f"PYTHON={bare / 'bin' / 'python'}", f"DEVICE_VENV={venv}",
                "DEVICE_EXTRA=none")  # fmt: skip
    assert proc.returncode != 0
    assert "none uses the OS's NumPy and OpenCV: sudo apt install python3-numpy" in proc.stderr
    assert not venv.exists()


def test_device_install_asks_the_os_python_which_extra(tmp_path) -> None:
    """Without DEVICE_EXTRA the Makefile asks device/install_extra.py (this x86-64 machine:
    device, the plain venv); a dry run shows the pip command it would type."""
    proc = make("-n", "device-install", f"DEVICE_VENV={tmp_path / 'v'}", "DEVICE_FROM=wheel.whl")
    assert proc.returncode == 0, proc.stderr
    assert '"wheel.whl[device]"' in proc.stdout
    proc = make("-n", "device-install", "DEVICE_EXTRA=none", "DEVICE_FROM=wheel.whl")
    assert '"wheel.whl"' in proc.stdout and "numpy==" in proc.stdout
