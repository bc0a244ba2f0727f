"""Read a .tflite flatbuffer with the `tflite` schema package into plain records.

Tensors carry their quantisation (scale and zero point per channel, quantised dimension)
and constant data; operators carry their builtin options as a dict. Subgraph 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tflite

from edgecnn.errors import EdgeCnnError

OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
NUMPY_TYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.INT64: np.int64,
    tflite.TensorType.INT16: np.int16,
    tflite.TensorType.INT8: np.int8,
    tflite.TensorType.BOOL: np.bool_,
}
OPTION_CLASSES = {
    "CONV_2D": tflite.Conv2DOptions,
    "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
    "FULLY_CONNECTED": tflite.FullyConnectedOptions,
    "MAX_POOL_2D": tflite.Pool2DOptions,
    "AVERAGE_POOL_2D": tflite.Pool2DOptions,
    "MEAN": tflite.ReducerOptions,
    "SUM": tflite.ReducerOptions,
    "ADD": tflite.AddOptions,
    "MUL": tflite.MulOptions,
    "SOFTMAX": tflite.SoftmaxOptions,
    "CONCATENATION": tflite.ConcatenationOptions,
}
OPTION_FIELDS = (
    "Padding", "StrideW", "StrideH", "DilationWFactor", "DilationHFactor", "FilterWidth",
    "FilterHeight", "FusedActivationFunction", "DepthMultiplier", "KeepNumDims", "KeepDims",
    "Beta", "Axis", "WeightsFormat",
)  # fmt: skip


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int
    is_constant: bool
    data: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class OperatorInfo:
    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def read_options(op, name: str) -> dict:
    cls = OPTION_CLASSES.get(name)
    table = op.BuiltinOptions()
    if cls is None or table is None:
        return {}
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return {snake(f): getattr(options, f)() for f in OPTION_FIELDS if hasattr(options, f)}


def read_tensor(model, subgraph, i: int) -> TensorInfo:
    t = subgraph.Tensors(i)
    dtype = np.dtype(NUMPY_TYPES.get(t.Type(), np.float32))
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    q = t.Quantization()
    scale = (
        q.ScaleAsNumpy().astype(np.float32)
        if q is not None and q.ScaleLength()
        else np.zeros(0, np.float32)
    )
    zero_point = (
        q.ZeroPointAsNumpy().astype(np.int64)
        if q is not None and q.ZeroPointLength()
        else np.zeros(0, np.int64)
    )
    buffer = model.Buffers(t.Buffer())
    data = None
    if buffer is not None and buffer.DataLength() > 0:
        data = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape)
    return TensorInfo(
        index=i,
        name=t.Name().decode(errors="replace"),
        shape=shape,
        dtype=dtype,
        scale=scale,
        zero_point=zero_point,
        quantized_dimension=int(q.QuantizedDimension()) if q is not None else 0,
        is_constant=data is not None,
        data=data,
    )


def read_model(
    model: str | Path | bytes,
) -> tuple[list[TensorInfo], list[OperatorInfo], list[int], list[int]]:
    """Tensors, operators, input and output indices of subgraph 0."""
    if isinstance(model, (str, Path)):
        try:
            buf = Path(model).read_bytes()
        except OSError as exc:
            raise EdgeCnnError(f"cannot read {model}: {exc.strerror}") from None
        where = str(model)
    else:
        buf, where = bytes(model), "model"
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise EdgeCnnError(f"{where} is not a TensorFlow Lite flatbuffer (no TFL3 identifier)")
    try:
        m = tflite.Model.GetRootAs(buf, 0)
        sg = m.Subgraphs(0)
        tensors = [read_tensor(m, sg, i) for i in range(sg.TensorsLength())]
        operators = []
        for j in range(sg.OperatorsLength()):
            op = sg.Operators(j)
            code = m.OperatorCodes(op.OpcodeIndex())
            opcode = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = OP_NAMES.get(opcode, f"OP_{opcode}")
            if name == "CUSTOM":
                name = f"CUSTOM:{code.CustomCode().decode(errors='replace')}"
            operators.append(
                OperatorInfo(
                    j, name, tuple(int(i) for i in op.InputsAsNumpy()),
                    tuple(int(i) for i in op.OutputsAsNumpy()), read_options(op, name),
                )
            )  # fmt: skip
        inputs = [int(i) for i in sg.InputsAsNumpy()]
        outputs = [int(i) for i in sg.OutputsAsNumpy()]
    except Exception as exc:  # the generated reader fails anywhere on a corrupt buffer
        raise EdgeCnnError(
            f"{where} is not a readable TensorFlow Lite model ({type(exc).__name__})"
        ) from None
    return tensors, operators, inputs, outputs
