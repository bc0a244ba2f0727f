"""Damage a .tflite in place, field by field, as a bad copy, a bit flip or a hostile file
would: the quantisation of a tensor (scales, zero points, their counts), a buffer's length,
an operator's tensor index. Each function returns the damaged bytes; the model stays a
well-formed flatbuffer, so only the checks of the model reader can tell."""

from __future__ import annotations

import struct

import tflite

# Field offsets in the schema's vtables (tensorflow/lite/schema/schema.fbs).
QUANTIZATION_SCALE, QUANTIZATION_ZERO_POINT = 8, 10
BUFFER_DATA = 4
OPERATOR_INPUTS = 6
SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS = 6, 8


def _subgraph(model: bytes):
    root = tflite.Model.GetRootAs(model, 0)
    return root, root.Subgraphs(0)


def _vector(table, field: int) -> tuple[int, int]:
    """(position of the first element, element count) of a vector field of `table`."""
    offset = table._tab.Offset(field)
    assert offset, f"the field at vtable offset {field} is absent"
    return table._tab.Vector(offset), table._tab.VectorLen(offset)


def _quantization_vector(model: bytes, tensor: int, field: int) -> tuple[int, int]:
    _, subgraph = _subgraph(model)
    return _vector(subgraph.Tensors(tensor).Quantization(), field)


def _packed(model: bytes, fmt: str, position: int, value) -> bytes:
    """`model` with `value` packed as struct format `fmt` at `position`."""
    damaged = bytearray(model)
    struct.pack_into(fmt, damaged, position, value)
    return bytes(damaged)


def _set_element(model: bytes, vector: tuple[int, int], index: int, fmt: str, value) -> bytes:
    position, count = vector
    assert index < count
    return _packed(model, fmt, position + struct.calcsize(fmt) * index, value)


def _set_length(model: bytes, position: int, length: int) -> bytes:
    return _packed(model, "<I", position - 4, length)  # a vector's length precedes it


def set_zero_point(model: bytes, tensor: int, value: int, channel: int = 0) -> bytes:
    vector = _quantization_vector(model, tensor, QUANTIZATION_ZERO_POINT)
    return _set_element(model, vector, channel, "<q", value)


def set_scale(model: bytes, tensor: int, value: float, channel: int = 0) -> bytes:
    vector = _quantization_vector(model, tensor, QUANTIZATION_SCALE)
    return _set_element(model, vector, channel, "<f", value)


def set_zero_point_count(model: bytes, tensor: int, count: int) -> bytes:
    position, _ = _quantization_vector(model, tensor, QUANTIZATION_ZERO_POINT)
    return _set_length(model, position, count)


def set_scale_count(model: bytes, tensor: int, count: int) -> bytes:
    position, _ = _quantization_vector(model, tensor, QUANTIZATION_SCALE)
    return _set_length(model, position, count)


def set_buffer_length(model: bytes, tensor: int, length: int) -> bytes:
    root, subgraph = _subgraph(model)
    position, _ = _vector(root.Buffers(subgraph.Tensors(tensor).Buffer()), BUFFER_DATA)
    return _set_length(model, position, length)


def set_operator_input(model: bytes, operator: int, slot: int, tensor: int) -> bytes:
    _, subgraph = _subgraph(model)
    inputs = _vector(subgraph.Operators(operator), OPERATOR_INPUTS)
    return _set_element(model, inputs, slot, "<i", tensor)


def set_subgraph_io_count(model: bytes, outputs: bool, count: int) -> bytes:
    """The number of the subgraph's inputs (or outputs) set to `count` (0: none at all)."""
    _, subgraph = _subgraph(model)
    position, _ = _vector(subgraph, SUBGRAPH_OUTPUTS if outputs else SUBGRAPH_INPUTS)
    return _set_length(model, position, count)
