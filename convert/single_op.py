"""One operator of a model as a model of its own, so a runtime can be fed the reference's
inputs to that operator and its kernel compared alone.

Comparing a runtime's intermediate tensors end to end mixes its kernels' own rounding with
the differences it inherits from earlier layers, and those grow with depth. Fed the same
inputs, each of its kernels must be within the contract on its own: that is what verify
checks per tensor. The model is rebuilt with the flatbuffer schema's object API, which
ai-edge-litert ships (`ai_edge_litert.schema_py_generated`) and so does tflite-micro.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from functools import cache

from edgecnn.errors import EdgeCnnError

SCHEMA_MODULES = (
    "ai_edge_litert.schema_py_generated",
    "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
    "tensorflow.lite.python.schema_py_generated",
)


@dataclass(frozen=True)
class SingleOpModel:
    """Operator `op_index` alone: `content` is the .tflite, `inputs` the original indices
    of the tensors it takes as graph inputs (its non-constant inputs, in the order of the
    new model's inputs), `outputs` those of its outputs."""

    op_index: int
    content: bytes
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@cache
def schema():
    for name in SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise EdgeCnnError(
        "comparing each operator alone needs the flatbuffer schema of ai-edge-litert, "
        "tflite-micro or TensorFlow: pip install ai-edge-litert"
    )


def single_op_models(model_content: bytes) -> list[SingleOpModel]:
    """Every operator of subgraph 0 as a one-operator model, in execution order."""
    s = schema()
    import flatbuffers

    model = s.ModelT.InitFromObj(s.Model.GetRootAs(model_content, 0))
    graph = model.subgraphs[0]
    models = []
    for k, op in enumerate(graph.operators or []):
        used = [i for i in (*op.inputs, *op.outputs, *(op.intermediates or [])) if i >= 0]
        remap = {old: new for new, old in enumerate(dict.fromkeys(used))}
        one = s.ModelT()
        one.version = model.version
        one.description = f"operator {k}"
        one.buffers = [s.BufferT()]
        tensors = []
        for old in remap:
            tensor = copy.copy(graph.tensors[old])
            buffer = model.buffers[tensor.buffer] if tensor.buffer else None
            if buffer is not None and buffer.data is not None and len(buffer.data):
                one.buffers.append(buffer)
                tensor.buffer = len(one.buffers) - 1
            else:
                tensor.buffer = 0
            tensors.append(tensor)
        new_op = copy.copy(op)
        new_op.opcodeIndex = 0
        new_op.inputs = [remap[i] if i >= 0 else -1 for i in op.inputs]
        new_op.outputs = [remap[i] for i in op.outputs]
        if op.intermediates is not None:
            new_op.intermediates = [remap[i] for i in op.intermediates]
        one.operatorCodes = [model.operatorCodes[op.opcodeIndex]]
        inputs = tuple(
            dict.fromkeys(i for i in op.inputs if i >= 0 and tensors[remap[i]].buffer == 0)
        )
        subgraph = s.SubGraphT()
        subgraph.tensors = tensors
        subgraph.operators = [new_op]
        subgraph.inputs = [remap[i] for i in inputs]
        subgraph.outputs = list(new_op.outputs)
        one.subgraphs = [subgraph]
        builder = flatbuffers.Builder(1024)
        builder.Finish(one.Pack(builder), file_identifier=b"TFL3")
        models.append(SingleOpModel(k, bytes(builder.Output()), inputs, tuple(op.outputs)))
    return models
