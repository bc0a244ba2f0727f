"""Shared fixtures: the models every stage's tests need, made once per test run, small."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never download: a missing data set must fail loudly, not fetch from the network.
os.environ.setdefault("EDGECNN_OFFLINE", "1")

TINY_MODEL_ARGS = ("--preset", "tiny", "--limit", "12000", "--epochs", "2", "--seed", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny-preset model trained for real (12k images, 2 epochs, ~85% test accuracy).

    The folder holds model.keras, labels.txt, config.toml, train_report.json and
    training_curves.png. Trained through the CLI in a subprocess, so the test process itself
    never loads TensorFlow. Read-only for tests: copy it before changing anything.
    """
    out = tmp_path_factory.mktemp("tiny_model")
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "train", *TINY_MODEL_ARGS, "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert proc.returncode == 0, f"training the tiny model failed:\n{proc.stderr[-3000:]}"
    return out


@pytest.fixture(scope="session")
def tiny_tflite(tiny_model_dir, tmp_path_factory) -> Path:
    """`tiny_model_dir`'s model converted by `edgecnn convert` (uint8 in, int8 out).

    Returns the path of model.tflite; model.json, labels.txt and convert_report.json are
    beside it. Read-only for tests.
    """
    out = tmp_path_factory.mktemp("tiny_tflite") / "model.tflite"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgecnn.cli",
            "convert",
            str(tiny_model_dir / "model.keras"),
            "--out",
            str(out),
            "--eval-samples",
            "1000",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert proc.returncode == 0, f"converting the tiny model failed:\n{proc.stderr[-3000:]}"
    return out
