"""`ReferenceInterpreter`: runs a .tflite graph in NumPy with TFLite's integer semantics.

It walks the operators in order and calls the registered op function for each; it knows
nothing about any op. Inputs may have any batch size: the graph's batch of 1 is replaced
by the batch given, and every op is vectorised over it.

Everything that does not change from call to call is made once, at load: each op's
`OpContext` (its constant inputs in place, what its Prepare derives kept in it), and the
plan of which tensors each step reads, writes and may forget. A call then only moves arrays
between a list of tensor values and the ops, so one frame at a time (the device's path)
pays for its arithmetic, not for the walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.reference import ops  # noqa: F401  registers the ops
from edgecnn.reference.registry import OpContext, OpFunction, check_types, lookup
from edgecnn.runtime_versions import default_fc_rounding
from edgecnn.tflite_model import OperatorInfo, TensorInfo, TfliteModel, read_model

CHUNK = 64  # images per pass at most
# ... and the largest activation of a pass below this many values. Passes of 16 to 64 images
# of the 28x28 `default` model measured fastest on one core (about 10% less time per image
# than 1 to 4; BLAS gets taller matrices, the working arrays stay a few MB).
CHUNK_ELEMENTS = 2**19


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


class OperatorFailed(Exception):
    """An op function raised: `where` names the op and its output tensor, `cause` is what it
    raised (verify shows both in one line; EDGECNN_DEBUG=1 the traceback of the cause)."""

    def __init__(self, where: str, cause: BaseException) -> None:
        super().__init__(f"{where}: {type(cause).__name__}: {first_line(cause)}")
        self.where, self.cause = where, cause


@dataclass(frozen=True)
class Step:
    """One op of the walk: its function and context, the non-constant inputs it reads (input
    slot, tensor index), the tensors it writes, and those no later step reads."""

    function: OpFunction
    ctx: OpContext
    reads: tuple[tuple[int, int], ...]
    writes: tuple[int, ...]
    forgets: tuple[int, ...]
    where: str  # "CONV_2D (operator 3, output tensor conv1)", for OperatorFailed


class ReferenceInterpreter:
    """The NumPy reference of one model.

    `run(*inputs)` returns the list of outputs; `run(*inputs, keep_tensors=True)` returns
    `(outputs, tensors)` with every tensor index -> value (constants included). Outputs are
    fresh arrays: the caller may keep them across calls. Each op keeps its working arrays
    between calls, so, like a TFLite interpreter, one instance runs one call at a time.
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
        registered = [lookup(op.name) for op in self.operators]
        for op in self.operators:
            check_op(op, self.tensors)
        largest = max(
            (int(np.prod(self.tensors[o].shape)) for op in self.operators for o in op.outputs),
            default=1,
        )
        self.images_per_pass = max(1, CHUNK_ELEMENTS // max(largest, 1))
        # A graph that drops the batch axis somewhere (RESHAPE [1,1,1,C] -> [C]) holds only
        # one image: it runs image by image, every array shaped exactly as in the graph.
        self.image_by_image = any(
            self.tensors[o].shape[:1] != (1,) for op in self.operators for o in op.outputs
        )
        self.constants: list[np.ndarray | None] = [t.data for t in self.tensors]
        last_use = {i: op.index for op in self.operators for i in op.inputs}
        kept = {*self.output_indices, *(t.index for t in self.tensors if t.is_constant)}
        self.steps = [
            Step(
                function=entry.function,
                ctx=OpContext(
                    inputs=[self.constants[i] if i >= 0 else None for i in op.inputs],
                    input_tensors=[self.tensors[i] if i >= 0 else None for i in op.inputs],
                    output_tensors=[self.tensors[i] for i in op.outputs],
                    options=op.options,
                    fc_rounding=self.fc_rounding,
                ),
                reads=tuple(
                    (slot, i)
                    for slot, i in enumerate(op.inputs)
                    if i >= 0 and not self.tensors[i].is_constant
                ),
                writes=tuple(op.outputs),
                forgets=tuple(
                    sorted({i for i in op.inputs if i >= 0 and last_use[i] == op.index} - kept)
                ),
                where=f"{op.name} (operator {op.index}, output tensor "
                f"{self.tensors[op.outputs[0]].name if op.outputs else '-'})",
            )
            for op, entry in zip(self.operators, registered, strict=True)
        ]

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
        values = list(self.constants)
        for i, x in zip(self.input_indices, inputs, strict=True):
            values[i] = x
        for step in self.steps:
            slots = step.ctx.inputs
            for slot, i in step.reads:
                slots[slot] = values[i]
            try:
                outputs = step.function(step.ctx)
            except EdgeCnnError:
                raise
            except Exception as exc:  # an op's bug or limit: named, not a bare traceback
                raise OperatorFailed(step.where, exc) from exc
            for slot, _ in step.reads:
                slots[slot] = None  # the context holds constants only between calls
            for i, value in zip(step.writes, outputs, strict=True):
                values[i] = value
            if not keep_tensors:
                for i in step.forgets:
                    values[i] = None
        outputs = [values[i] for i in self.output_indices]
        if not keep_tensors:
            return outputs
        return outputs, {i: v for i, v in enumerate(values) if v is not None}
