"""The one reader of .tflite flatbuffers: tensors, operators, inputs and outputs of a model.

Built on the `tflite` package (the flatc-generated schema classes), so it needs no
TensorFlow and runs on a device. Every stage reads models through it: the converter's
checks and report, the NumPy reference interpreter, verify, explain and the device's file
checks. Tensors carry their quantisation (scale and zero point per channel, the quantised
dimension) and constant data; operators carry their builtin options as a dict with the
schema's field names in snake case (`stride_w`, `fused_activation_function`, ...).
Subgraph 0 is the model; other subgraphs (control flow) are not read.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import tflite

from edgecnn.errors import EdgeCnnError

IDENTIFIER = b"TFL3"
OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
OPTION_TABLES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
NUMPY_TYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64, "int8": np.int8,
    "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
    "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "bool": np.bool_,
    "complex64": np.complex64, "complex128": np.complex128,
}  # fmt: skip
FLOAT_TYPES = {"float32", "float16", "float64", "bfloat16"}
ZERO_POINT_RANGES = {"int4": (-8, 7)} | {
    name: (int(np.iinfo(t).min), int(np.iinfo(t).max))
    for name, t in NUMPY_TYPES.items()
    if np.issubdtype(t, np.integer)
}
# Below float32's smallest normal number, LiteRT's requantisation crashes (measured: a
# subnormal input scale is a segfault in allocate_tensors, as 0, NaN and a negative one are).
SMALLEST_SCALE = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the graph.

        `dtype` is the NumPy storage type (None for types NumPy has no equivalent of, e.g.
        int4 or string: `type_name` always names the type). `scale` and `zero_point` hold one
        value per channel along `quantized_dimension`, or one value, or none when the tensor is
        not quantised. `data` is a constant's value (None for activations, and for constants of
    a type NumPy cannot hold).
    """

    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    type_name: str
    dtype: np.dtype | None
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int
    is_constant: bool = False
    data: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def is_quantized(self) -> bool:
        """An integer tensor with a positive scale (the weights' or activations' int8)."""
        return (
            self.dtype is not None
            and np.issubdtype(self.dtype, np.integer)
            and self.scale.size > 0
            and float(self.scale[0]) > 0
        )

    @property
    def quantization(self) -> tuple[float, int]:
        """(scale, zero point) of a per-tensor quantised tensor, (0.0, 0) when not quantised:
        what a TFLite interpreter's tensor details call 'quantization'."""
        if not self.is_quantized:
            return 0.0, 0
        return float(self.scale[0]), int(self.zero_point[0]) if self.zero_point.size else 0

    @property
    def is_per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[2]

    @property
    def channels(self) -> int:
        return self.shape[3] if len(self.shape) == 4 else 1


def tensor_info(
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    scale: float | None = None,
    zero_point: int = 0,
    index: int = 0,
    name: str = "input",
) -> TensorInfo:
    """A tensor description made by hand (a model's input as edgecnn convert makes it, in
    tests and previews): per-tensor quantised when `scale` is given."""
    dtype = np.dtype(dtype)
    return TensorInfo(
        index=index,
        name=name,
        shape=tuple(shape),
        shape_signature=tuple(shape),
        type_name=dtype.name,
        dtype=dtype,
        scale=np.array([] if scale is None else [scale], np.float32),
        zero_point=np.array([] if scale is None else [zero_point], np.int64),
        quantized_dimension=0,
    )


@dataclass(frozen=True)
class OperatorInfo:
    """One operator: its builtin name ("CONV_2D", or "CUSTOM:<code>"), tensor indices
    (-1 for an absent optional input) and builtin options."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(compare=False)


@dataclass(frozen=True)
class TfliteModel:
    """Subgraph 0 of a .tflite model, and where it came from."""

    tensors: tuple[TensorInfo, ...]
    operators: tuple[OperatorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    source: str
    size: int

    def input_details(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.inputs]

    def output_details(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.outputs]

    def op_counts(self) -> dict[str, int]:
        return dict(Counter(op.name for op in self.operators))

    def has_custom_op(self, code: str) -> bool:
        return any(op.name == f"CUSTOM:{code}" for op in self.operators)


def snake_case(name: str) -> str:
    """'StrideW' -> 'stride_w', 'DilationHFactor' -> 'dilation_h_factor'."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def option_getters(table_name: str) -> dict[str, str]:
    """snake_case field -> accessor of an options table: scalar getters, and the `...AsNumpy`
    accessor of vector fields. Read from the generated class, so every op's options work."""
    cls = getattr(tflite, table_name, None)
    if cls is None:
        return {}
    getters = {}
    for name, member in vars(cls).items():
        if name.startswith("_") or not callable(member) or name in ("Init", "GetRootAs"):
            continue
        if name.startswith("GetRootAs") or name.endswith(("BufferHasIdentifier", "IsNone")):
            continue
        if name.endswith(("Length", "AsNumpy")):
            continue
        parameters = inspect.signature(member).parameters
        if len(parameters) == 1:
            getters[snake_case(name)] = name
        elif hasattr(cls, f"{name}AsNumpy"):
            getters[snake_case(name)] = f"{name}AsNumpy"
    return getters


def read_options(op) -> dict:
    """The builtin options of an operator as {snake_case field: value}."""
    table_name = OPTION_TABLES.get(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    options_class = getattr(tflite, table_name, None) if table_name else None
    if options_class is None or table is None:
        # No options, or a table newer than the installed schema package: none are read
        # (an op that needs them is then refused by name, not with an AttributeError).
        return {}
    options = options_class()
    options.Init(table.Bytes, table.Pos)
    values = {}
    for key, getter in option_getters(table_name).items():
        value = getattr(options, getter)()
        if getter.endswith("AsNumpy"):
            value = tuple(int(v) for v in np.atleast_1d(value)) if not np.isscalar(value) else ()
        values[key] = value
    return values


class DamagedTensor(ValueError):
    """A tensor whose description cannot be right (its buffer, its quantisation)."""


def quantization_problem(t: TensorInfo) -> str | None:
    """What is wrong with `t`'s quantisation, or None: a scale and a zero point per channel
    (one, or one per index of the quantised dimension), every scale a finite positive normal
    float, every zero point within the tensor's type. A runtime handed anything else may
    crash (LiteRT segfaults on an out-of-range zero point) or compute nonsense."""
    if t.scale.size == 0:
        return None  # not quantised (a zero point alone is ignored by every runtime)
    if t.zero_point.size != t.scale.size:
        return f"has {t.scale.size} scale(s) but {t.zero_point.size} zero point(s)"
    bad = ~np.isfinite(t.scale) | (t.scale < SMALLEST_SCALE)
    if bad.any():
        return (
            f"has scale {float(t.scale[bad][0]):.3g}: a scale must be finite and positive "
            f"(at least {SMALLEST_SCALE:.3g})"
        )
    if t.shape and not 0 <= t.quantized_dimension < len(t.shape):
        return (
            f"is quantised along dimension {t.quantized_dimension}, which its shape "
            f"{list(t.shape)} does not have"
        )
    if t.scale.size > 1 and (not t.shape or t.shape[t.quantized_dimension] != t.scale.size):
        channels = t.shape[t.quantized_dimension] if t.shape else 1
        return f"has {t.scale.size} scales for {channels} channel(s)"
    low, high = ZERO_POINT_RANGES.get(t.type_name, (None, None))
    if low is not None:
        outside = (t.zero_point < low) | (t.zero_point > high)
        if outside.any():
            return (
                f"has zero point {int(t.zero_point[outside][0])}, outside {t.type_name}'s "
                f"{low}..{high}"
            )
    return None


def read_tensor(model, subgraph, index: int) -> TensorInfo:
    t = subgraph.Tensors(index)
    type_name = TYPE_NAMES.get(t.Type(), f"type {t.Type()}")
    numpy_type = NUMPY_TYPES.get(type_name)
    dtype = np.dtype(numpy_type) if numpy_type is not None else None
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    signature = (
        tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
    )
    q = t.Quantization()
    has_scale = q is not None and q.ScaleLength() > 0
    has_zero_point = q is not None and q.ZeroPointLength() > 0
    if any(d < 0 for d in shape):
        raise DamagedTensor(f"has shape {list(shape)}, with a negative size")
    if not 0 <= t.Buffer() < model.BuffersLength():
        raise DamagedTensor(f"refers to buffer {t.Buffer()} of {model.BuffersLength()}")
    buffer = model.Buffers(t.Buffer())
    constant = buffer is not None and buffer.DataLength() > 0
    data = None
    if constant and dtype is not None:
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if buffer.DataLength() != expected:
            raise DamagedTensor(
                f"holds {buffer.DataLength()} bytes, but its shape {list(shape)} of "
                f"{type_name} needs {expected}"
            )
        data = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape)
    return TensorInfo(
        index=index,
        name=t.Name().decode(errors="replace") if t.Name() else f"tensor {index}",
        shape=shape,
        shape_signature=signature,
        type_name=type_name,
        dtype=dtype,
        scale=q.ScaleAsNumpy().astype(np.float32) if has_scale else np.zeros(0, np.float32),
        zero_point=q.ZeroPointAsNumpy().astype(np.int64) if has_zero_point else np.zeros(0, np.int64),
        quantized_dimension=int(q.QuantizedDimension()) if q is not None else 0,
        is_constant=constant,
        data=data,
    )  # fmt: skip


def read_operator(model, subgraph, index: int) -> OperatorInfo:
    op = subgraph.Operators(index)
    code = model.OperatorCodes(op.OpcodeIndex())
    opcode = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = OP_NAMES.get(opcode, f"OP_{opcode}")
    if name == "CUSTOM":
        custom = code.CustomCode()
        name = f"CUSTOM:{custom.decode(errors='replace') if custom else '?'}"
    return OperatorInfo(
        index,
        name,
        tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else (),
        tuple(int(i) for i in op.OutputsAsNumpy()) if op.OutputsLength() else (),
        read_options(op),
    )


def model_bytes(model: str | Path | bytes) -> tuple[bytes, str]:
    """(the flatbuffer, a name for messages), with one-line errors for files that are not one."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        buf, where = bytes(model), "the model"
    else:
        path = Path(model)
        if not path.exists():
            raise EdgeCnnError(
                f"model {path} does not exist: run edgecnn convert or check the path"
            )
        if is_keras_model(path):
            raise EdgeCnnError(
                f"{path} is a Keras model, not a TensorFlow Lite one: convert it first "
                f"(edgecnn convert {path}) and give the .tflite it writes"
            )
        if not path.is_file():
            raise EdgeCnnError(f"model {path} is not a file: give the .tflite file")
        try:
            buf = path.read_bytes()
        except OSError as exc:
            raise EdgeCnnError(f"cannot read {path}: {exc.strerror}") from None
        where = str(path)
    if len(buf) < 8 or buf[4:8] != IDENTIFIER:
        raise EdgeCnnError(
            f"{where} is not a TensorFlow Lite model (no TFL3 flatbuffer): give a .tflite file "
            "such as the one edgecnn convert writes"
        )
    return buf, where


def is_keras_model(path: Path) -> bool:
    """A float model rather than a .tflite: a .keras or .h5 file (a zip, an HDF5 file, by
    their first bytes) or a SavedModel folder."""
    if path.is_dir():
        return (path / "saved_model.pb").is_file()
    try:
        with open(path, "rb") as file:
            head = file.read(8)
    except OSError:
        return False
    return head.startswith((b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"))


def read_tensors(model, subgraph, where: str) -> tuple[TensorInfo, ...]:
    """Every tensor of `subgraph`, each checked (buffer size, quantisation) before any
    interpreter is handed the file."""
    tensors = []
    for i in range(subgraph.TensorsLength()):
        try:
            tensor = read_tensor(model, subgraph, i)
            problem = quantization_problem(tensor)
            if problem is not None:
                raise DamagedTensor(problem)
        except DamagedTensor as exc:
            name = subgraph.Tensors(i).Name() or b""
            raise EdgeCnnError(
                f"{where} is damaged: tensor {i} ({name.decode(errors='replace')}) {exc}: "
                "re-copy it or re-run edgecnn convert"
            ) from None
        tensors.append(tensor)
    return tuple(tensors)


# Inputs an operator may leave out (-1): a bias. LiteRT segfaults in allocate_tensors on
# others left out (a QUANTIZE's input, a convolution's or a fully connected layer's weights,
# a RESHAPE's shape: found by the fuzz suite), so no other input may be absent.
OPTIONAL_INPUTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2},
                   "TRANSPOSE_CONV": {3}}  # fmt: skip
RECURRENT = ("LSTM", "RNN", "GRU")  # their many optional inputs: all but the first


def may_be_absent(op_name: str, slot: int) -> bool:
    if any(kind in op_name for kind in RECURRENT):
        return slot > 0
    return slot in OPTIONAL_INPUTS.get(op_name, ())


def check_tensor_indices(model: TfliteModel) -> None:
    """Every index an operator or the graph names is a tensor (-1: an absent input, where
    the operator may go without it)."""
    count = len(model.tensors)
    named = [("the graph's inputs", i, False) for i in model.inputs]
    named += [("the graph's outputs", i, False) for i in model.outputs]
    for op in model.operators:
        who = f"operator {op.index} ({op.name})"
        named += [(who, i, may_be_absent(op.name, slot)) for slot, i in enumerate(op.inputs)]
        named += [(who, i, False) for i in op.outputs]
    for who, index, optional in named:
        if index == -1 and not optional:
            raise EdgeCnnError(
                f"{model.source} is damaged: {who} goes without an input it needs (tensor "
                "-1): re-copy it or re-run edgecnn convert"
            )
        if not (0 <= index < count or (optional and index == -1)):
            raise EdgeCnnError(
                f"{model.source} is damaged: {who} names tensor {index}, but it has "
                f"{count}: re-copy it or re-run edgecnn convert"
            )


def read_model(model: str | Path | bytes, source: str | None = None) -> TfliteModel:
    """Read subgraph 0 of a .tflite (a path or its bytes), refusing a damaged one in one line.
    `source` names bytes read from a file in messages (and in `TfliteModel.source`)."""
    buf, where = model_bytes(model)
    where = source or where
    try:
        root = tflite.Model.GetRootAs(buf, 0)
        if root.SubgraphsLength() < 1:
            raise EdgeCnnError(f"{where} has no subgraph: it is not a usable TensorFlow Lite model")
        subgraph = root.Subgraphs(0)
        tensors = read_tensors(root, subgraph, where)
        operators = tuple(
            read_operator(root, subgraph, j) for j in range(subgraph.OperatorsLength())
        )
        inputs = tuple(int(i) for i in subgraph.InputsAsNumpy()) if subgraph.InputsLength() else ()
        outputs = (
            tuple(int(i) for i in subgraph.OutputsAsNumpy()) if subgraph.OutputsLength() else ()
        )
    except EdgeCnnError:
        raise
    except Exception as exc:  # the generated reader fails anywhere on a corrupt buffer
        raise EdgeCnnError(
            f"{where} is not a readable TensorFlow Lite model (corrupt or truncated flatbuffer: "
            f"{type(exc).__name__}): re-copy it or re-run edgecnn convert"
        ) from None
    parsed = TfliteModel(tensors, operators, inputs, outputs, where, len(buf))
    check_tensor_indices(parsed)
    return parsed
