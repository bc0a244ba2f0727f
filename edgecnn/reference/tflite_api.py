"""The NumPy reference interpreter behind TFLite's Interpreter interface, so that whatever
runs a TFLite interpreter (the device's `Runtime`, `edgecnn.backends`) runs it too.

Inputs and outputs live in buffers shaped and typed as the graph's tensors: `tensor(i)()`
is a view of one (fill the input in place, read the output after `invoke()`), `set_tensor`
copies into one, `get_tensor` copies out. With `keep_all_tensors`, every tensor of the last
invoke can be read (TFLite's experimental_preserve_all_tensors).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgecnn.reference.interpreter import OperatorFailed, ReferenceInterpreter
from edgecnn.tflite_model import TensorInfo, TfliteModel


def tensor_details(t: TensorInfo) -> dict:
    """One tensor as TFLite's get_input_details()/get_output_details() describe it."""
    return {
        "name": t.name,
        "index": t.index,
        "shape": np.array(t.shape, np.int32),
        "shape_signature": np.array(t.shape_signature, np.int32),
        "dtype": t.dtype.type if t.dtype is not None else None,
        "quantization": t.quantization,
        "quantization_parameters": {
            "scales": t.scale.copy(),
            "zero_points": t.zero_point.astype(np.int32),
            "quantized_dimension": t.quantized_dimension,
        },
        "sparsity_parameters": {},
    }


class ReferenceTfliteInterpreter:
    """`ReferenceInterpreter` with TFLite's Interpreter methods, one input batch at a time."""

    def __init__(
        self,
        model: str | Path | bytes | TfliteModel,
        fc_rounding: str | None = None,
        keep_all_tensors: bool = False,
    ) -> None:
        self.reference = ReferenceInterpreter(model, fc_rounding=fc_rounding)
        self.keep_all_tensors = keep_all_tensors
        tensors = self.reference.tensors
        self._inputs = [tensors[i] for i in self.reference.input_indices]
        self._outputs = [tensors[i] for i in self.reference.output_indices]
        self._buffers = {t.index: np.zeros(t.shape, t.dtype) for t in self._inputs + self._outputs}
        self._kept: dict[int, np.ndarray] = {}

    def allocate_tensors(self) -> None:
        """Nothing to do: the buffers are made with the interpreter (TFLite needs the call)."""

    def get_input_details(self) -> list[dict]:
        return [tensor_details(t) for t in self._inputs]

    def get_output_details(self) -> list[dict]:
        return [tensor_details(t) for t in self._outputs]

    def _buffer(self, index: int) -> np.ndarray:
        try:
            return self._buffers[index]
        except KeyError:
            raise ValueError(
                f"tensor {index} is not an input or output of the graph"
                + ("" if self.keep_all_tensors else " (keep_all_tensors reads the others)")
            ) from None

    def tensor(self, tensor_index: int) -> Callable[[], np.ndarray]:
        buffer = self._buffer(tensor_index)
        return lambda: buffer

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None:
        buffer = self._buffer(tensor_index)
        value = np.asarray(value)
        if value.shape != buffer.shape or value.dtype != buffer.dtype:
            raise ValueError(
                f"tensor {tensor_index} is {buffer.dtype} {list(buffer.shape)}, got "
                f"{value.dtype} {list(value.shape)}"
            )
        np.copyto(buffer, value)

    def get_tensor(self, tensor_index: int) -> np.ndarray:
        if tensor_index in self._buffers:
            return self._buffers[tensor_index].copy()
        if tensor_index in self._kept:
            value = self._kept[tensor_index]
            return value.reshape(self.reference.tensors[tensor_index].shape).copy()
        return self._buffer(tensor_index)  # raises: not readable

    def invoke(self) -> None:
        """Run the graph; a failure inside it is a RuntimeError, as TFLite's invoke raises."""
        inputs = [self._buffers[t.index] for t in self._inputs]
        try:
            if self.keep_all_tensors:
                outputs, self._kept = self.reference.run(*inputs, keep_tensors=True)
            else:
                outputs = self.reference.run(*inputs)
        except OperatorFailed as exc:  # an op on a graph it cannot compute (a damaged model)
            raise RuntimeError(str(exc)) from exc
        except Exception as exc:
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from exc
        for t, value in zip(self._outputs, outputs, strict=True):
            np.copyto(self._buffers[t.index], value.reshape(t.shape), casting="no")
