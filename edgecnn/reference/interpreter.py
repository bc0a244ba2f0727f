"""`ReferenceInterpreter`: runs a .tflite graph in NumPy with TFLite's integer semantics.

It walks the operators in order and calls the registered op function for each; it knows
nothing about any op. Inputs may have any batch size: the graph's batch of 1 is replaced
by the batch given, and every op is vectorised over it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.reference import ops  # noqa: F401  registers the ops
from edgecnn.reference.registry import OpContext, check_types, lookup
from edgecnn.runtime_versions import default_fc_rounding
from edgecnn.tflite_model import OperatorInfo, TensorInfo, TfliteModel, read_model

CHUNK = 64  # images per pass at most: keeps the int64 working arrays near the CPU caches
CHUNK_ELEMENTS = 2**20  # ... and the largest activation of a pass below this many values


# Inputs whose scales may be per channel, and the dimension TFLite's kernel takes them on
# (op, input index) -> dimension; None: any (DEQUANTIZE of per-channel weights).
PER_CHANNEL_DIMENSIONS = {
    ("CONV_2D", 1): 0,
    ("CONV_2D", 2): 0,
    ("DEPTHWISE_CONV_2D", 1): 3,
    ("DEPTHWISE_CONV_2D", 2): 0,
    ("FULLY_CONNECTED", 1): 0,
    ("FULLY_CONNECTED", 2): 0,
    ("TRANSPOSE_CONV", 1): 0,
    ("TRANSPOSE_CONV", 3): 0,
    ("DEQUANTIZE", 0): None,
}


def check_op(op: OperatorInfo, tensors: tuple[TensorInfo, ...]) -> None:
    """Refuse in one line what the reference does not implement: the op on its tensor type,
    a tensor type NumPy cannot hold (int4, string, ...), float16 outside DEQUANTIZE, or
    per-channel scales where the kernel takes them per tensor (or on another dimension)."""
    for i in (*op.inputs, *op.outputs):
        if i < 0:
            continue
        t = tensors[i]
        if t.dtype is None or t.type_name in ("float16", "float64", "complex64", "complex128"):
            if t.type_name == "float16" and op.name == "DEQUANTIZE":
                continue
            raise EdgeCnnError(
                f"{op.name} (operator {op.index}) tensor {t.name} is {t.type_name}: the NumPy "
                "reference handles float32, int8, uint8, int16 and int32 tensors"
            )
    check_types(op, tensors)
    for position, i in enumerate(op.inputs):
        if i < 0 or not tensors[i].is_per_channel:
            continue
        t = tensors[i]
        allowed = PER_CHANNEL_DIMENSIONS.get((op.name, position), -1)
        if allowed is None or allowed == t.quantized_dimension:
            continue
        expected = (
            f"TFLite's {op.name} kernel takes per-channel scales on dimension {allowed} of this input"
            if allowed >= 0
            else f"TFLite's {op.name} kernel takes one scale for this input"
        )
        raise EdgeCnnError(
            f"{op.name} (operator {op.index}) input {t.name} is quantised per-channel on "
            f"dimension {t.quantized_dimension}: {expected}"
        )


class ReferenceInterpreter:
    """The NumPy reference of one model.

    `run(*inputs)` returns the list of outputs; `run(*inputs, keep_tensors=True)` returns
    `(outputs, tensors)` with every tensor index -> value (constants included).
    `fc_rounding` selects FULLY_CONNECTED's requantisation ('double' since 2025, 'mbqm'
    before); by default it follows the installed runtime's version.
    """

    def __init__(
        self, model: str | Path | bytes | TfliteModel, fc_rounding: str | None = None
    ) -> None:
        self.model = model if isinstance(model, TfliteModel) else read_model(model)
        self.tensors = self.model.tensors
        self.operators = self.model.operators
        self.input_indices, self.output_indices = self.model.inputs, self.model.outputs
        self.fc_rounding = fc_rounding or default_fc_rounding()
        self.kernels = [lookup(op.name) for op in self.operators]
        for op in self.operators:
            check_op(op, self.tensors)
        largest = max(
            (int(np.prod(self.tensors[o].shape)) for op in self.operators for o in op.outputs),
            default=1,
        )
        self.images_per_pass = max(1, CHUNK_ELEMENTS // max(largest, 1))
        self.prepared: list[dict] = [{} for _ in self.operators]
        # A graph that drops the batch axis somewhere (RESHAPE [1,1,1,C] -> [C]) holds only
        # one image: it runs image by image, every array shaped exactly as in the graph.
        self.image_by_image = any(
            self.tensors[o].shape[:1] != (1,) for op in self.operators for o in op.outputs
        )
        self.last_use = {i: op.index for op in self.operators for i in op.inputs}

    def input_details(self) -> list[TensorInfo]:
        return self.model.input_details()

    def output_details(self) -> list[TensorInfo]:
        return self.model.output_details()

    def check_inputs(self, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        if len(inputs) != len(self.input_indices):
            raise EdgeCnnError(
                f"the model takes {len(self.input_indices)} input(s), got {len(inputs)}"
            )
        checked = []
        for array, t in zip(inputs, self.input_details(), strict=True):
            array = np.asarray(array)
            if array.shape[1:] != t.shape[1:]:
                dims = ", ".join(map(str, t.shape[1:]))
                raise EdgeCnnError(
                    f"input {t.name} must be [batch, {dims}], got {list(array.shape)}"
                )
            if array.dtype != t.dtype:
                raise EdgeCnnError(f"input {t.name} must be {t.dtype}, got {array.dtype}")
            checked.append(array)
        return checked

    def run(
        self, *inputs: np.ndarray, keep_tensors: bool = False, chunk: int = CHUNK
    ) -> list[np.ndarray] | tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """Run a batch; large batches go through in chunks (cache-sized working arrays).
        Tensors the graph holds without a batch axis come back with one (stacked)."""
        inputs = tuple(self.check_inputs(inputs))
        batch = len(inputs[0]) if inputs else 0
        chunk = 1 if self.image_by_image else min(chunk, self.images_per_pass)
        if batch <= chunk and not self.image_by_image:
            return self.run_chunk(*inputs, keep_tensors=keep_tensors)
        parts = [
            self.run_chunk(*(x[i : i + chunk] for x in inputs), keep_tensors=keep_tensors)
            for i in range(0, batch, chunk)
        ]
        if not keep_tensors:
            return [
                self._join(list(outs), i)
                for outs, i in zip(zip(*parts, strict=True), self.output_indices, strict=True)
            ]
        outputs = [
            self._join(list(outs), i)
            for outs, i in zip(
                zip(*(p[0] for p in parts), strict=True), self.output_indices, strict=True
            )
        ]
        tensors = {i: self._join([p[1][i] for p in parts], i) for i in parts[0][1]}
        return outputs, tensors

    def _join(self, values: list[np.ndarray], index: int) -> np.ndarray:
        """One tensor of every chunk as one batch-first array: constants once, tensors
        without a batch axis (image by image) stacked on a new one."""
        t = self.tensors[index]
        if t.is_constant:
            return values[0]
        if t.shape[:1] != (1,):
            return np.stack(values)
        return np.concatenate(values)

    def run_chunk(
        self, *inputs: np.ndarray, keep_tensors: bool = False
    ) -> list[np.ndarray] | tuple[list[np.ndarray], dict[int, np.ndarray]]:
        values: dict[int, np.ndarray] = {
            t.index: t.data for t in self.tensors if t.data is not None
        }
        values.update(zip(self.input_indices, inputs, strict=True))
        for op, kernel in zip(self.operators, self.kernels, strict=True):
            ctx = OpContext(
                inputs=[values[i] if i >= 0 else None for i in op.inputs],
                input_tensors=[self.tensors[i] if i >= 0 else None for i in op.inputs],
                output_tensors=[self.tensors[i] for i in op.outputs],
                options=op.options,
                fc_rounding=self.fc_rounding,
                prepared=self.prepared[op.index],
            )
            values.update(zip(op.outputs, kernel(ctx), strict=True))
            if not keep_tensors:
                self._forget_dead(values, op.inputs, op.index)
        outputs = [values[i] for i in self.output_indices]
        return (outputs, values) if keep_tensors else outputs

    def _forget_dead(self, values: dict, used: tuple[int, ...], op_index: int) -> None:
        """Drop activations no later op reads (keeps the working set small)."""
        for i in used:
            if (
                i >= 0
                and not self.tensors[i].is_constant
                and i not in self.output_indices
                and self.last_use[i] == op_index
            ):
                values.pop(i, None)
