"""Read a .tflite flatbuffer (no TensorFlow): its ops, tensors, float ops and MACs.

Used by `edgecnn convert` to check and report the graph it wrote, and usable on a device.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tflite

from edgecnn.errors import EdgeCnnError

OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
FLOAT_TYPES = {"float32", "float16", "float64", "bfloat16"}
DYNAMIC_BATCH_OPS = {"SHAPE", "STRIDED_SLICE", "PACK"}


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    is_constant: bool


@dataclass(frozen=True)
class Op:
    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def op_counts(self) -> dict[str, int]:
        return dict(Counter(op.name for op in self.ops))

    def input(self) -> Tensor:
        return self.tensors[self.inputs[0]]

    def output(self) -> Tensor:
        return self.tensors[self.outputs[0]]


def read_graph(model: str | Path | bytes) -> Graph:
    """Parse subgraph 0 of a .tflite file (path or bytes)."""
    if isinstance(model, (str, Path)):
        path = Path(model)
        try:
            buf = path.read_bytes()
        except OSError as exc:
            raise EdgeCnnError(f"cannot read {path}: {exc.strerror}") from None
    else:
        buf, path = model, Path("<bytes>")
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise EdgeCnnError(f"{path} is not a TensorFlow Lite flatbuffer (no TFL3 identifier)")
    try:
        m = tflite.Model.GetRootAs(buf, 0)
        sg = m.Subgraphs(0)
        tensors = []
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            q = t.Quantization()
            buffer = m.Buffers(t.Buffer())
            scale = tuple(float(s) for s in q.ScaleAsNumpy()) if q and q.ScaleLength() else ()
            zp = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q and q.ZeroPointLength() else ()
            sig = t.ShapeSignatureAsNumpy() if t.ShapeSignatureLength() else t.ShapeAsNumpy()
            tensors.append(
                Tensor(
                    index=i,
                    name=t.Name().decode(),
                    shape=tuple(int(d) for d in np.atleast_1d(t.ShapeAsNumpy()))
                    if t.ShapeLength()
                    else (),
                    shape_signature=tuple(int(d) for d in np.atleast_1d(sig))
                    if t.ShapeLength()
                    else (),
                    dtype=TYPE_NAMES.get(t.Type(), str(t.Type())),
                    scale=scale,
                    zero_point=zp,
                    is_constant=buffer is not None and buffer.DataLength() > 0,
                )
            )
        ops = []
        for j in range(sg.OperatorsLength()):
            op = sg.Operators(j)
            code = m.OperatorCodes(op.OpcodeIndex())
            opcode = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = OP_NAMES.get(opcode, f"OP_{opcode}")
            if opcode == tflite.BuiltinOperator.CUSTOM:
                name = f"CUSTOM:{code.CustomCode().decode()}"
            ops.append(
                Op(
                    j,
                    name,
                    tuple(int(i) for i in op.InputsAsNumpy()),
                    tuple(int(i) for i in op.OutputsAsNumpy()),
                )
            )
        return Graph(
            tuple(tensors),
            tuple(ops),
            tuple(int(i) for i in sg.InputsAsNumpy()),
            tuple(int(i) for i in sg.OutputsAsNumpy()),
        )
    except EdgeCnnError:
        raise
    except Exception as exc:  # a corrupt flatbuffer fails anywhere inside the generated reader
        raise EdgeCnnError(
            f"{path} is not a readable TensorFlow Lite model ({type(exc).__name__})"
        ) from None


def float_ops(graph: Graph) -> list[str]:
    """Ops that compute in floating point.

    QUANTIZE of a graph input and DEQUANTIZE into a graph output are the int8 graph's float
    interface (e.g. --output-type float32), not float compute, so they do not count.
    """
    offending = []
    for op in graph.ops:
        if op.name == "QUANTIZE" and all(i in graph.inputs for i in op.inputs):
            continue
        if op.name == "DEQUANTIZE" and all(o in graph.outputs for o in op.outputs):
            continue
        dtypes = {graph.tensors[i].dtype for i in (*op.inputs, *op.outputs) if i >= 0}
        if dtypes & FLOAT_TYPES:
            offending.append(f"{op.name}#{op.index}")
    return offending


def batch_problems(graph: Graph) -> list[str]:
    """Why the graph does not have a fixed batch of 1 (empty when it does)."""
    problems = []
    for i in graph.inputs:
        t = graph.tensors[i]
        if not t.shape_signature or t.shape_signature[0] != 1:
            problems.append(f"input {t.name} has batch {t.shape_signature[:1] or '?'}")
    dynamic = sorted({op.name for op in graph.ops} & DYNAMIC_BATCH_OPS)
    if dynamic:
        problems.append(f"dynamic-shape ops {', '.join(dynamic)}")
    return problems


def op_macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates of one op: conv HxWxCout x KhxKwxCin/groups, FC N x K."""
    t = graph.tensors
    if op.name == "CONV_2D":
        out, w = t[op.outputs[0]].shape, t[op.inputs[1]].shape  # w: Cout, Kh, Kw, Cin/groups
        return int(np.prod(out[1:]) * w[1] * w[2] * w[3])
    if op.name == "DEPTHWISE_CONV_2D":
        out, w = t[op.outputs[0]].shape, t[op.inputs[1]].shape  # w: 1, Kh, Kw, Cout
        return int(np.prod(out[1:]) * w[1] * w[2])
    if op.name == "FULLY_CONNECTED":
        w, out = t[op.inputs[1]].shape, t[op.outputs[0]].shape
        rows = int(np.prod(out)) // w[0]
        return int(rows * w[0] * w[1])
    return 0


def total_macs(graph: Graph) -> int:
    return sum(op_macs(graph, op) for op in graph.ops)
