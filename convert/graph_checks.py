"""Checks and figures of a converted graph: float ops left, fixed batch, MACs.

Used by `edgecnn convert` on the model it wrote (read with `edgecnn.tflite_model`).
"""

from __future__ import annotations

import numpy as np

from edgecnn.tflite_model import FLOAT_TYPES, OperatorInfo, TfliteModel

DYNAMIC_BATCH_OPS = {"SHAPE", "STRIDED_SLICE", "PACK"}


def float_ops(graph: TfliteModel) -> list[str]:
    """Ops that compute in floating point.

    QUANTIZE of a graph input and DEQUANTIZE into a graph output are the int8 graph's float
    interface (e.g. --output-type float32), not float compute, so they do not count.
    """
    offending = []
    for op in graph.operators:
        if op.name == "QUANTIZE" and all(i in graph.inputs for i in op.inputs):
            continue
        if op.name == "DEQUANTIZE" and all(o in graph.outputs for o in op.outputs):
            continue
        types = {graph.tensors[i].type_name for i in (*op.inputs, *op.outputs) if i >= 0}
        if types & FLOAT_TYPES:
            offending.append(f"{op.name}#{op.index}")
    return offending


def batch_problems(graph: TfliteModel) -> list[str]:
    """Why the graph does not have a fixed batch of 1 (empty when it does)."""
    problems = []
    for t in graph.input_details():
        if not t.shape_signature or t.shape_signature[0] != 1:
            problems.append(f"input {t.name} has batch {t.shape_signature[:1] or '?'}")
    dynamic = sorted({op.name for op in graph.operators} & DYNAMIC_BATCH_OPS)
    if dynamic:
        problems.append(f"dynamic-shape ops {', '.join(dynamic)}")
    return problems


def op_macs(graph: TfliteModel, op: OperatorInfo) -> int:
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


def total_macs(graph: TfliteModel) -> int:
    return sum(op_macs(graph, op) for op in graph.operators)
