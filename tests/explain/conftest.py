"""A second small model for explain: a block without pooling, average and sum pooling,
no batch-norm (conv bias), a hidden dense layer. Trained and converted through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

POOL_KINDS_CONFIG = """
name = "pool-kinds"

[model]
head = "flatten"
dense = [16]

[[model.conv]]
filters = 4
kernel_size = 3
padding = "valid"

[[model.conv]]
filters = 6
kernel_size = 3
padding = "same"
pool = "avg"
pool_size = 2

[[model.conv]]
filters = 8
kernel_size = 3
padding = "same"
batch_norm = true
pool = "sum"
pool_size = 3
pool_stride = 2

[training]
epochs = 1
batch_size = 128
"""


def cli(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert proc.returncode == 0, f"edgecnn {args[0]} failed:\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="session")
def pool_kinds_model(tmp_path_factory) -> Path:
    """Folder with model.keras and model.tflite (+ model.json) of the pool-kinds config."""
    out = tmp_path_factory.mktemp("pool_kinds")
    (out / "config.toml").write_text(POOL_KINDS_CONFIG)
    cli("train", "--config", str(out / "config.toml"), "--limit", "3000", "--seed", "2",
        "--out", str(out / "model"))  # fmt: skip
    model = out / "model"
    cli("convert", str(model / "model.keras"), "--out", str(model / "model.tflite"),
        "--eval-samples", "200")  # fmt: skip
    return model
