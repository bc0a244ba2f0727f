"""One way to open an interpreter: every backend behind TFLite's interface, the NumPy
reference among them, the kernels asked for, and TFLite's interpreters made in one module."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgecnn.backends import BACKEND_CHOICES, BACKEND_NAMES, choose_backend, import_backend
from edgecnn.bundle import open_bundle
from edgecnn.data import load_fashion_mnist
from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import pixels_to_model_input

REPO = Path(__file__).resolve().parents[2]
DETAIL_KEYS = {"name", "index", "shape", "shape_signature", "dtype", "quantization",
               "quantization_parameters", "sparsity_parameters"}  # fmt: skip


@pytest.fixture(scope="module")
def bundle(tiny_tflite):
    return open_bundle(tiny_tflite)


@pytest.fixture(scope="module")
def inputs(bundle) -> np.ndarray:
    images = load_fashion_mnist("test", limit=12).images
    return pixels_to_model_input(images, bundle.input_range, bundle.input)


def test_the_cli_offers_the_backends_of_the_code() -> None:
    from edgecnn.cli import cli

    assert BACKEND_NAMES == ("litert", "tflite-runtime", "tensorflow", "reference")
    for command in ("run", "bench"):
        [backend] = [p for p in cli.commands[command].params if p.name == "backend"]
        assert tuple(backend.type.choices) == BACKEND_CHOICES


def test_an_unknown_backend_names_the_choices() -> None:
    with pytest.raises(EdgeCnnError, match="choose auto, litert, tflite-runtime, tensorflow, ref"):
        choose_backend("onnx")


def test_the_reference_backend_describes_tensors_as_tflite_does(bundle) -> None:
    ours = import_backend("reference").open(bundle.file)
    theirs = import_backend("litert").open(bundle.file)
    for mine, tflite in (
        (ours.get_input_details(), theirs.get_input_details()),
        (ours.get_output_details(), theirs.get_output_details()),
    ):
        [a], [b] = mine, tflite
        assert set(a) == set(b) == DETAIL_KEYS
        assert (a["index"], a["name"], a["dtype"], a["quantization"]) == (
            b["index"], b["name"], b["dtype"], b["quantization"]
        )  # fmt: skip
        assert a["shape"].tolist() == b["shape"].tolist()


@pytest.mark.parametrize("backend", ["reference", "litert"])
def test_every_backend_equals_tflite_reference_kernels_on_every_tensor(bundle, inputs, backend):
    """The reference backend with every tensor kept, and LiteRT's reference kernels opened
    through the same function, give the same value for every tensor of the graph."""
    truth = import_backend("litert").open(bundle.file, kernels="reference", keep_all_tensors=True)
    engine = import_backend(backend).open(bundle.file, kernels="reference", keep_all_tensors=True)
    produced = [i for op in bundle.graph.operators for i in op.outputs]
    index = bundle.input.index
    for x in inputs:
        for interpreter in (truth, engine):
            interpreter.set_tensor(index, x[None])
            interpreter.invoke()
        for i in produced:
            assert np.array_equal(engine.get_tensor(i), truth.get_tensor(i)), i


def test_input_and_output_views_work_in_place(bundle, inputs) -> None:
    """What the device's Runtime does: fill the input view, invoke, read the output view."""
    reference = import_backend("reference").open(bundle.file)
    litert = import_backend("litert").open(bundle.file, kernels="reference")
    out = bundle.output.index
    for interpreter in (reference, litert):
        interpreter.tensor(bundle.input.index)()[...] = inputs[3][None]
        interpreter.invoke()
    assert np.array_equal(reference.tensor(out)(), litert.tensor(out)())


def test_the_reference_backend_refuses_what_tflite_refuses(bundle) -> None:
    reference = import_backend("reference").open(bundle.file)
    index = bundle.input.index
    with pytest.raises(ValueError, match=r"uint8 \[1, 28, 28, 1\], got float32"):
        reference.set_tensor(index, np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match="got uint8"):
        reference.set_tensor(index, np.zeros((2, 28, 28, 1), np.uint8))
    with pytest.raises(ValueError, match="not an input or output"):
        reference.get_tensor(bundle.graph.operators[0].outputs[0])
    with pytest.raises(ValueError, match="kernels"):
        import_backend("reference").open(bundle.file, kernels="fast")


def test_tflite_interpreters_are_made_in_one_module() -> None:
    """No module but edgecnn/backends.py constructs a TFLite Interpreter."""
    construct = re.compile(r"(?<![\w])Interpreter\(|interpreter_class\(")
    found = []
    for folder in ("edgecnn", "train", "convert", "device", "explain"):  # the package dirs
        for path in (REPO / folder).rglob("*.py"):
            if path != REPO / "edgecnn" / "backends.py" and construct.search(path.read_text()):
                found.append(str(path.relative_to(REPO)))
    assert found == []
