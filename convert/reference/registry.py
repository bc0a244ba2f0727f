"""The op registry: opcode name -> the NumPy function that mirrors its reference kernel.

An op function takes an `OpContext` (its input arrays, the tensors' records, its options)
and returns its output arrays; it never walks the graph. The interpreter walks the graph and
knows no op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.tflite_model import TensorInfo


@dataclass
class OpContext:
    """One op's call: `inputs[i]` is None where the optional input i is absent (index -1)."""

    inputs: list[np.ndarray | None]
    input_tensors: list[TensorInfo | None]
    output_tensors: list[TensorInfo]
    options: dict
    fc_rounding: str

    @property
    def out(self) -> TensorInfo:
        return self.output_tensors[0]

    def optional_input(self, i: int) -> np.ndarray | None:
        return self.inputs[i] if i < len(self.inputs) else None

    @property
    def fused_activation(self) -> int:
        return self.options.get("fused_activation_function", 0)


OpFunction = Callable[[OpContext], list[np.ndarray]]
REGISTRY: dict[str, OpFunction] = {}


def register(name: str) -> Callable[[OpFunction], OpFunction]:
    def add(fn: OpFunction) -> OpFunction:
        REGISTRY[name] = fn
        return fn

    return add


def lookup(name: str) -> OpFunction:
    if name not in REGISTRY:
        raise EdgeCnnError(
            f"the NumPy reference has no {name} operator (it implements "
            f"{', '.join(sorted(REGISTRY))})"
        )
    return REGISTRY[name]
