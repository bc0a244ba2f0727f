"""`ReferenceInterpreter`: runs a .tflite graph in NumPy with TFLite's integer semantics.

It walks the operators in order and calls the registered op function for each; it knows
nothing about any op. Inputs may have any batch size: the graph's batch of 1 is replaced
by the batch given, and every op is vectorised over it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecnn.convert.reference.graph import OperatorInfo, TensorInfo, read_model
from edgecnn.convert.reference.ops import OpContext, default_fc_rounding, lookup
from edgecnn.errors import EdgeCnnError

CHUNK = 64  # images per pass: keeps the int64 working arrays near the CPU caches


class ReferenceInterpreter:
    """The NumPy int8 reference of one model.

    `run(*inputs)` returns the list of outputs; `run(*inputs, keep_tensors=True)` returns
    `(outputs, tensors)` with every tensor index -> value (constants included).
    `fc_rounding` selects FULLY_CONNECTED's requantisation ('double' since 2025, 'mbqm'
    before); by default it follows the installed runtime's version.
    """

    def __init__(self, model: str | Path | bytes, fc_rounding: str | None = None) -> None:
        self.tensors: list[TensorInfo]
        self.operators: list[OperatorInfo]
        self.tensors, self.operators, self.input_indices, self.output_indices = read_model(model)
        self.fc_rounding = fc_rounding or default_fc_rounding()
        self.kernels = [lookup(op.name) for op in self.operators]

    def input_details(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.input_indices]

    def output_details(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.output_indices]

    def check_inputs(self, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        if len(inputs) != len(self.input_indices):
            raise EdgeCnnError(
                f"the model takes {len(self.input_indices)} input(s), got {len(inputs)}"
            )
        checked = []
        for array, t in zip(inputs, self.input_details(), strict=True):
            array = np.asarray(array)
            if array.shape[1:] != t.shape[1:]:
                raise EdgeCnnError(
                    f"input {t.name} must be [batch, {', '.join(map(str, t.shape[1:]))}], got {list(array.shape)}"
                )
            if array.dtype != t.dtype:
                raise EdgeCnnError(f"input {t.name} must be {t.dtype}, got {array.dtype}")
            checked.append(array)
        return checked

    def run(
        self, *inputs: np.ndarray, keep_tensors: bool = False, chunk: int = CHUNK
    ) -> list[np.ndarray] | tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """Run a batch; large batches go through in chunks (cache-sized working arrays)."""
        inputs = tuple(self.check_inputs(inputs))
        batch = len(inputs[0]) if inputs else 0
        if batch <= chunk:
            return self.run_chunk(*inputs, keep_tensors=keep_tensors)
        parts = [
            self.run_chunk(*(x[i : i + chunk] for x in inputs), keep_tensors=keep_tensors)
            for i in range(0, batch, chunk)
        ]
        if not keep_tensors:
            return [np.concatenate(outs) for outs in zip(*parts, strict=True)]
        outputs = [np.concatenate(outs) for outs in zip(*(p[0] for p in parts), strict=True)]
        constant = {t.index for t in self.tensors if t.data is not None}
        tensors = {
            i: parts[0][1][i] if i in constant else np.concatenate([p[1][i] for p in parts])
            for i in parts[0][1]
        }
        return outputs, tensors

    def run_chunk(
        self, *inputs: np.ndarray, keep_tensors: bool = False
    ) -> list[np.ndarray] | tuple[list[np.ndarray], dict[int, np.ndarray]]:
        values: dict[int, np.ndarray] = {
            t.index: t.data for t in self.tensors if t.data is not None
        }
        for index, array in zip(self.input_indices, inputs, strict=True):
            values[index] = array
        for op, kernel in zip(self.operators, self.kernels, strict=True):
            ctx = OpContext(
                inputs=[values[i] if i >= 0 else None for i in op.inputs],
                input_tensors=[self.tensors[i] if i >= 0 else None for i in op.inputs],
                output_tensors=[self.tensors[i] for i in op.outputs],
                options=op.options,
                fc_rounding=self.fc_rounding,
            )
            ctx.inputs = (
                [v for v in ctx.inputs if v is not None]
                if op.name == "CONCATENATION"
                else ctx.inputs
            )
            ctx.inputs = (
                ctx.inputs if op.name != "FULLY_CONNECTED" or op.inputs[-1] >= 0 else ctx.inputs[:2]
            )
            for index, result in zip(op.outputs, kernel(ctx), strict=True):
                values[index] = result
            if not keep_tensors:
                for i in op.inputs:
                    if (
                        i >= 0
                        and self.tensors[i].data is None
                        and i not in self.output_indices
                        and self.last_use[i] == op.index
                    ):
                        values.pop(i, None)
        outputs = [values[i] for i in self.output_indices]
        return (outputs, values) if keep_tensors else outputs

    @property
    def last_use(self) -> dict[int, int]:
        if not hasattr(self, "_last_use"):
            self._last_use = {i: op.index for op in self.operators for i in op.inputs}
        return self._last_use
