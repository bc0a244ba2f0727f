"""The op registry: opcode name -> the NumPy function that mirrors its reference kernel.

An op function takes an `OpContext` (its input arrays, the tensors' records, its options)
and returns its output arrays; it never walks the graph. The interpreter walks the graph and
knows no op. Each op is registered with the tensor types it implements (the type of its
first output: float32 for float models, int8/uint8 for full-int8, int16 for 16x8 models), so
an op on a type it lacks is refused by name before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.tflite_model import OperatorInfo, TensorInfo

INT8_TYPES = ("int8", "uint8")
QUANTIZED_TYPES = ("int8", "uint8", "int16")
ALL_TYPES = ("float32", "int8", "uint8", "int16")


@dataclass
class OpContext:
    """One op of one interpreter, made once at load and kept: `inputs[i]` is the array of
    input i for the current call (constants stay, the interpreter refreshes the others),
    None where the optional input i is absent (index -1)."""

    inputs: list[np.ndarray | None]
    input_tensors: list[TensorInfo | None]
    output_tensors: list[TensorInfo]
    options: dict
    fc_rounding: str
    prepared: dict = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)

    def prepare(self, key: str, make: Callable[[], object]) -> object:
        """What the op derives from its constants and options (weights laid out for the
        accumulator, multipliers, padding), made on the first call and kept for every later
        one: TFLite's Prepare."""
        if key not in self.prepared:
            self.prepared[key] = make()
        return self.prepared[key]

    def scratch(self, key: str, shape: tuple[int, ...], dtype, fill: float = 0) -> np.ndarray:
        """A working array of this op, kept between calls while the shape stays (one per key:
        a run of equal batches allocates it once). Made filled with `fill`; an op that writes
        only part of it (a padded copy's interior) finds the rest as it left it. Never
        returned as an output: outputs are fresh arrays the caller may keep."""
        buffer = self.buffers.get(key)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = np.full(shape, fill, dtype=dtype)
            self.buffers[key] = buffer
        return buffer

    @property
    def out(self) -> TensorInfo:
        return self.output_tensors[0]

    def optional_input(self, i: int) -> np.ndarray | None:
        return self.inputs[i] if i < len(self.inputs) else None

    @property
    def fused_activation(self) -> int:
        return self.options.get("fused_activation_function", 0)

    @property
    def is_float(self) -> bool:
        return self.out.type_name == "float32"


OpFunction = Callable[[OpContext], list[np.ndarray]]


@dataclass(frozen=True)
class RegisteredOp:
    """An opcode's function, the output types it implements, and why others are missing."""

    function: OpFunction
    types: tuple[str, ...]
    missing: dict[str, str]


REGISTRY: dict[str, RegisteredOp] = {}


def register(
    name: str, types: tuple[str, ...] = ALL_TYPES, missing: dict[str, str] | None = None
) -> Callable[[OpFunction], OpFunction]:
    """Register `fn` for opcode `name` on output types `types`; `missing` says why a type
    is not there (e.g. {"int16": "TFLite has no 16-bit HARD_SWISH kernel"})."""

    def add(fn: OpFunction) -> OpFunction:
        REGISTRY[name] = RegisteredOp(fn, types, missing or {})
        return fn

    return add


def lookup(name: str) -> RegisteredOp:
    if name not in REGISTRY:
        raise EdgeCnnError(
            f"the NumPy reference has no {name} operator (it implements "
            f"{', '.join(sorted(REGISTRY))})"
        )
    return REGISTRY[name]


def check_types(op: OperatorInfo, tensors: tuple[TensorInfo, ...]) -> None:
    """Refuse, by op and type name, an op on a tensor type its function does not implement."""
    registered = lookup(op.name)
    if not op.outputs:
        return
    type_name = tensors[op.outputs[0]].type_name
    if type_name in registered.types:
        return
    why = registered.missing.get(type_name)
    raise EdgeCnnError(
        f"the NumPy reference has no {type_name} {op.name} (operator {op.index}): "
        + (why if why else f"it implements {op.name} on {', '.join(registered.types)}")
    )
