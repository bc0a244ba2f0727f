"""A second small model for explain: a block without pooling, average and sum pooling,
no batch-norm (conv bias), a hidden dense layer. Trained and converted through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import edgecnn_cli

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


@pytest.fixture(scope="session")
def pool_kinds_model(tmp_path_factory) -> Path:
    """Folder with model.keras and model.tflite (+ model.json) of the pool-kinds config."""
    out = tmp_path_factory.mktemp("pool_kinds")
    (out / "config.toml").write_text(POOL_KINDS_CONFIG)
    edgecnn_cli("train", "--config", str(out / "config.toml"), "--limit", "3000", "--seed", "2",
        "--out", str(out / "model"))  # fmt: skip
    model = out / "model"
    edgecnn_cli("convert", str(model / "model.keras"), "--out", str(model / "model.tflite"),
        "--eval-samples", "200")  # fmt: skip
    return model
