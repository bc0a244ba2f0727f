"""The pipeline is built in one place from one options record: model.json is read once,
the labels, input range and recipe are the bundle's, and what runs is what was checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgecnn.bundle import open_bundle
from edgecnn.device.inference.runtime import load_runtime
from edgecnn.device.pipeline import PipelineOptions, build_pipeline
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import FASHION_MNIST_LABELS
from edgecnn.sidecar import ModelSidecar


def copy_model(tiny_tflite: Path, folder: Path) -> Path:
    for name in ("model.tflite", "model.json"):
        shutil.copy(tiny_tflite.parent / name, folder / name)
    return folder / "model.tflite"


def test_model_json_is_read_once_per_start_up(tiny_tflite, monkeypatch) -> None:
    """Opening the bundle and building run's whole pipeline reads model.json once."""
    reads = []
    read = ModelSidecar.read.__func__

    def counting_read(cls, path):
        reads.append(Path(path))
        return read(cls, path)

    monkeypatch.setattr(ModelSidecar, "read", classmethod(counting_read))
    pipeline = build_pipeline(PipelineOptions(tiny_tflite, backend="reference", edgetpu="off"))
    assert reads == [tiny_tflite.with_suffix(".json")]
    assert pipeline.postprocessor.labels == list(FASHION_MNIST_LABELS)


def test_the_pipeline_is_made_for_the_bundle_and_the_options(tiny_tflite, tmp_path) -> None:
    model = copy_model(tiny_tflite, tmp_path)
    ModelSidecar(labels=[f"item {i}" for i in range(10)], input_range=(-1.0, 1.0)).write(
        tmp_path / "model.json"
    )
    options = PipelineOptions(model, backend="reference", edgetpu="off", roi="0,0,100,100",
                              invert="on", top_k=2, threshold=0.2, smooth=0.5)  # fmt: skip
    pipeline = build_pipeline(options)
    assert pipeline.bundle.labels[0] == "item 0" and pipeline.runtime.backend == "reference"
    assert pipeline.preprocessor.roi == (0, 0, 100, 100) and pipeline.preprocessor.invert
    # uint8 input with scale 1/255 and zero point 0: -1..1 puts pixel 0 on -1 -> clamped 0,
    # pixel 255 on 1 -> 255; the range 0..1 would map pixel 128 to 128, -1..1 maps it to 1
    assert pipeline.preprocessor.table[128] == 1
    post = pipeline.postprocessor
    assert (post.top_k, post.threshold, post.smooth) == (2, 0.2, 0.5)
    assert post.labels == [f"item {i}" for i in range(10)]


def test_the_bytes_checked_are_the_bytes_that_run(tiny_tflite, tmp_path) -> None:
    """A file replaced after the bundle opened (a copy in progress, a hot reload) does not
    reach the interpreter: it runs what was hashed."""
    model = copy_model(tiny_tflite, tmp_path)
    bundle = open_bundle(model)
    model.write_bytes(b"not the model any more")
    runtime = load_runtime(bundle, "litert")
    x = np.full((1, 28, 28, 1), 128, np.uint8)
    scores = runtime.classify(x).copy()
    fresh = load_runtime(open_bundle(tiny_tflite), "litert").classify(x)
    assert np.array_equal(scores, fresh)
    with pytest.raises(EdgeCnnError, match="not a TensorFlow Lite model"):
        open_bundle(model)
