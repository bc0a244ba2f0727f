"""Shared fixtures: the models every stage's tests need, made once per test run, small."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_runner import edgecnn_cli

# Tests never download: a missing data set must fail loudly, not fetch from the network.
os.environ.setdefault("EDGECNN_OFFLINE", "1")

TINY_MODEL_ARGS = ("--preset", "tiny", "--epochs", "3", "--seed", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny preset trained for real (60k images, 3 epochs, about 89% test accuracy).

    The folder holds model.keras, labels.txt, config.toml, train_report.json and
    training_curves.png. Trained through the CLI in a subprocess, so the test process itself
    never loads TensorFlow. Read-only for tests: copy it before changing anything.
    """
    out = tmp_path_factory.mktemp("tiny_model")
    edgecnn_cli("train", *TINY_MODEL_ARGS, "--out", str(out))
    return out


@pytest.fixture(scope="session")
def tiny_tflite(tiny_model_dir, tmp_path_factory) -> Path:
    """`tiny_model_dir`'s model converted by `edgecnn convert` (uint8 in, int8 out).

    Returns the path of model.tflite; model.json, labels.txt and convert_report.json are
    beside it. Read-only for tests.
    """
    out = tmp_path_factory.mktemp("tiny_tflite") / "model.tflite"
    edgecnn_cli("convert", str(tiny_model_dir / "model.keras"), "--out", str(out),
                "--eval-samples", "1000")  # fmt: skip
    return out


@pytest.fixture(scope="session")
def tiny_int8_input_tflite(tiny_model_dir, tmp_path_factory) -> Path:
    """The same model converted with `--input-type int8` (int8 in, int8 out)."""
    out = tmp_path_factory.mktemp("tiny_int8_input") / "model.tflite"
    edgecnn_cli("convert", str(tiny_model_dir / "model.keras"), "--out", str(out),
                "--input-type", "int8", "--eval-samples", "200")  # fmt: skip
    return out
