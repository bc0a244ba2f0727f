"""The deployed model as one object: `open_bundle(path)` reads it once, every stage uses it.

A deployed model is `model.tflite`, its `model.json` (labels, input range, recipe, the
SHA-256 convert recorded), the labels (--labels, model.json, labels.txt, Fashion-MNIST's
names) and possibly `model_edgetpu.tflite` beside it. `open_bundle` reads the .tflite and
model.json once, checks the file's SHA-256 on the bytes it read, and keeps those bytes, so
the interpreter runs exactly what was checked. A foreign .tflite without model.json is a
bundle with the defaults (`DEFAULT_SIDECAR`), said once. The bundle is immutable and cheap
to open (one small file and one JSON read), so opening it again is how a model is reloaded.

    bundle = open_bundle("out/model.tflite")
    bundle.labels, bundle.input_range, bundle.recipe, bundle.input, bundle.output
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.console import warn
from edgecnn.edgetpu import cpu_model_beside, edgetpu_model_beside, is_edgetpu_model
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import class_labels
from edgecnn.quantization import pixel_table
from edgecnn.sidecar import (
    DEFAULT_SIDECAR,
    ModelSidecar,
    check_sha256,
    find_sidecar,
    is_edgetpu_name,
    sha256_hex,
    sidecar_path_for,
)
from edgecnn.tflite_model import TensorInfo, TfliteModel, model_bytes, read_model


@dataclass(frozen=True)
class ModelFile:
    """One .tflite as read: its bytes (what an interpreter loads) and its graph."""

    content: bytes = field(repr=False)
    graph: TfliteModel
    path: Path | None = None  # None: made in memory (the converter's output)

    @property
    def source(self) -> str:
        """The file's name for messages."""
        return self.graph.source

    @property
    def compiled_for_edgetpu(self) -> bool:
        return is_edgetpu_model(self.graph)

    @functools.cached_property
    def sha256(self) -> str:
        """The SHA-256 of the bytes read (what an interpreter of this file runs): its id."""
        return sha256_hex(self.content)

    @classmethod
    def from_bytes(cls, content: bytes) -> ModelFile:
        """A model made in memory (the converter's output), never written."""
        return cls(content, read_model(content))


def read_model_file(
    path: Path, sidecar: ModelSidecar, verify_hash: bool = True, sidecar_path: Path | None = None
) -> ModelFile:
    """Read a .tflite once; refuse it when its bytes are not those convert recorded in
    model.json, `sidecar_path` (unless `verify_hash` is False). A model.json that records no
    hash for the file is said once: the check is off for it. One-line errors for a missing,
    foreign or corrupt file."""
    content, where = model_bytes(path)
    if verify_hash:
        check_sha256(path, content, sidecar)
        if sidecar_path is not None and sidecar.expected_sha256(path) is None:
            say_unchecked(path, sidecar_path)
    return ModelFile(content, read_model(content, source=where), path)


_said_unchecked: set[Path] = set()


def say_unchecked(path: Path, sidecar_path: Path) -> None:
    """Once per file and process (a model reloaded is not said again)."""
    if path.resolve() in _said_unchecked:
        return
    _said_unchecked.add(path.resolve())
    field = "edgetpu_tflite_sha256" if is_edgetpu_name(path) else "tflite_sha256"
    warn(
        f"{sidecar_path} records no SHA-256 for {path.name} ({field}): the file is run "
        "unchecked; edgecnn convert records it"
    )


MIN_INPUT_LEVELS = 16  # distinct input values below which a frame is mostly lost


def check_input_range(graph: TfliteModel, sidecar: ModelSidecar, sidecar_path: Path) -> None:
    """Refuse an input_range the model's quantised input cannot tell apart (every pixel one
    value: every frame looks the same, every result "unsure"); warn when it leaves only a few
    values (most pixels clip)."""
    inputs = graph.input_details()
    if not inputs or not inputs[0].is_quantized or inputs[0].is_per_channel:
        return
    levels = np.unique(pixel_table(inputs[0], sidecar.input_range)).size
    low, high = sidecar.input_range
    if levels < 2:
        raise EdgeCnnError(
            f"{sidecar_path}: input_range [{low:g}, {high:g}] makes every pixel the same input "
            "value for this model (every frame would look alike): set it to the range the "
            "model was trained on (e.g. [0, 1]), or re-run edgecnn convert"
        )
    if levels < MIN_INPUT_LEVELS:
        warn(
            f"{sidecar_path}: input_range [{low:g}, {high:g}] leaves this model only {levels} "
            "distinct input values (the others clip): check it is the range the model was "
            "trained on (e.g. [0, 1])"
        )


@dataclass(frozen=True)
class ModelBundle:
    """A deployed model, read once: the .tflite given, its model.json (or the defaults), its
    labels, and where its CPU and Edge TPU files are."""

    file: ModelFile
    sidecar: ModelSidecar  # model.json, or DEFAULT_SIDECAR when there is none
    sidecar_path: Path | None  # None: the model came without model.json
    labels: tuple[str, ...]
    cpu_path: Path | None  # model.tflite (the file given, or the one beside an _edgetpu file)
    edgetpu_path: Path | None  # model_edgetpu.tflite, when there is one
    verify_hash: bool = True

    @property
    def path(self) -> Path:
        assert self.file.path is not None
        return self.file.path

    @property
    def graph(self) -> TfliteModel:
        return self.file.graph

    @property
    def input(self) -> TensorInfo:
        """The first input tensor (a classifier's only one)."""
        return self.graph.input_details()[0]

    @property
    def output(self) -> TensorInfo:
        """The first output tensor (a classifier's scores)."""
        return self.graph.output_details()[0]

    @property
    def num_classes(self) -> int:
        """Values of the first output per input: a classifier's class count."""
        return output_values(self.graph)

    @property
    def input_range(self) -> tuple[float, float]:
        """The float range the model's input layer expects (pixel 0 -> low, 255 -> high)."""
        return self.sidecar.input_range

    @property
    def recipe(self) -> str:
        return self.sidecar.recipe

    @property
    def polarity(self) -> str:
        return self.sidecar.polarity

    def model_file(self, path: Path) -> ModelFile:
        """The file given (as read at open), or its CPU/Edge TPU sibling, read and checked
        against the same model.json now."""
        if path == self.path:
            return self.file
        return read_model_file(path, self.sidecar, self.verify_hash, self.sidecar_path)


def output_values(graph: TfliteModel) -> int:
    outputs = graph.output_details()
    return int(np.prod(outputs[0].shape[1:])) if outputs else 0


def open_bundle(
    path: str | Path, verify_hash: bool = True, labels_path: str | Path | None = None
) -> ModelBundle:
    """Open the deployed model at `path` (a .tflite; `model_edgetpu.tflite` too).

    `verify_hash=False` (--no-verify-hash) runs a file whose SHA-256 is not the one in
    model.json; `labels_path` (--labels) overrides the labels of model.json.
    """
    path = Path(path)
    sidecar = find_sidecar(path)
    sidecar_path = sidecar_path_for(path) if sidecar is not None else None
    file = read_model_file(path, sidecar or DEFAULT_SIDECAR, verify_hash, sidecar_path)
    for what, tensors in (("inputs", file.graph.inputs), ("outputs", file.graph.outputs)):
        if len(tensors) == 0:
            raise EdgeCnnError(
                f"{path} has no {what}: a model takes an input and gives an output; re-copy it "
                "or re-run edgecnn convert"
            )
    if sidecar is not None and sidecar_path is not None:
        check_input_range(file.graph, sidecar, sidecar_path)
    if sidecar is None:
        warn(
            f"no model.json beside {path}: using the defaults (inputs in 0..1, the "
            "Fashion-MNIST recipe, labels from labels.txt or class numbers); edgecnn "
            "convert writes model.json"
        )
    labels = class_labels(
        output_values(file.graph), path.parent, labels_path, sidecar, sidecar_path
    )
    return ModelBundle(
        file=file,
        sidecar=sidecar or DEFAULT_SIDECAR,
        sidecar_path=sidecar_path,
        labels=tuple(labels),
        cpu_path=cpu_model_beside(path),
        edgetpu_path=edgetpu_model_beside(path),
        verify_hash=verify_hash,
    )
