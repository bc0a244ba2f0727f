"""Coral Edge TPU: which ops of a graph its compiler maps, and running `edgetpu_compiler`.

The table follows Coral's published list ("TensorFlow models on the Edge TPU", supported
operations, for compiler version 16): ops not in it, and ops breaking its constraints, run
on the CPU, and the compiler cuts the graph at the first such op, so everything after it
runs on the CPU too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgecnn.errors import EdgeCnnError
from edgecnn.tflite_model import OperatorInfo, TfliteModel

# op name -> the published limitation (empty when none).
SUPPORTED_OPS: dict[str, str] = {
    "ADD": "",
    "AVERAGE_POOL_2D": "no fused activation",
    "CONCATENATION": "no fused activation; a constant input must be all zeros with 2 inputs",
    "CONV_2D": "",
    "DEPTHWISE_CONV_2D": "dilation only on the CPU for some shapes",
    "EXPAND_DIMS": "",
    "FULLY_CONNECTED": "default weight format only; output 1-D; per-tensor weight scale",
    "HARD_SWISH": "",
    "L2_NORMALIZATION": "",
    "LOGISTIC": "",
    "LSTM": "unidirectional, 8-bit",
    "MAXIMUM": "",
    "MAX_POOL_2D": "no fused activation",
    "MEAN": "reduction along x and/or y only",
    "MINIMUM": "",
    "MUL": "",
    "PACK": "no packing along the batch dimension",
    "PAD": "padding along x and/or y only",
    "PRELU": "alpha constant, one per channel",
    "QUANTIZE": "",
    "REDUCE_MAX": "",
    "REDUCE_MIN": "",
    "RELU": "",
    "RELU6": "",
    "RELU_N1_TO_1": "",
    "RESHAPE": "some reshapes only on the CPU",
    "RESIZE_BILINEAR": "3-D input/output",
    "RESIZE_NEAREST_NEIGHBOR": "3-D input/output",
    "RSQRT": "",
    "SLICE": "",
    "SOFTMAX": "1-D input, at most 16,000 elements",
    "SPACE_TO_DEPTH": "",
    "SPLIT": "no split along the batch dimension",
    "SQUARED_DIFFERENCE": "",
    "SQUEEZE": "",
    "STRIDED_SLICE": "strides of 1 only, no ellipsis or new-axis masks",
    "SUB": "",
    "SUM": "reduction along x and/or y only",
    "TANH": "",
    "TRANSPOSE_CONV": "",
}
INSTALL_HINT = (
    "edgetpu_compiler runs on x86-64 Debian/Ubuntu: add Coral's apt repository "
    "(packages.cloud.google.com/apt coral-edgetpu-stable) and 'sudo apt-get install "
    "edgetpu-compiler', then compile with 'edgetpu_compiler model.tflite'"
)


@dataclass(frozen=True)
class OpVerdict:
    op: str
    index: int
    on_tpu: bool
    reason: str


def op_verdict(graph: TfliteModel, op: OperatorInfo) -> OpVerdict:
    """Whether the Edge TPU compiler can map one op, and why not when it cannot."""
    name = op.name
    if name not in SUPPORTED_OPS:
        return OpVerdict(name, op.index, False, "not in the Edge TPU op list: runs on the CPU")
    io = [graph.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
    if any(t.type_name not in ("int8", "uint8", "int32") for t in io):
        return OpVerdict(name, op.index, False, "has a float tensor: needs full 8-bit quantisation")
    if any(t.shape_signature and -1 in t.shape_signature for t in io):
        return OpVerdict(name, op.index, False, "dynamic tensor size: shapes must be fixed")
    activations = [t for t in io if not t.is_constant]
    big = [t for t in activations if len(t.shape) > 3 and any(d > 1 for d in t.shape[:-3])]
    if big:
        return OpVerdict(name, op.index, False, "more than 3 dimensions larger than 1")
    if name == "FULLY_CONNECTED":
        weights = graph.tensors[op.inputs[1]]
        if len(weights.scale) > 1:
            return OpVerdict(
                name,
                op.index,
                False,
                "per-channel weight scales (compiler 16 predates them): use --edgetpu",
            )
    if name == "SOFTMAX":
        n = graph.tensors[op.inputs[0]].shape
        if n and n[-1] > 16000:
            return OpVerdict(name, op.index, False, "softmax over more than 16,000 elements")
    return OpVerdict(name, op.index, True, SUPPORTED_OPS[name])


def edgetpu_verdicts(graph: TfliteModel) -> list[OpVerdict]:
    """A verdict per op; everything after the first CPU op also falls to the CPU."""
    verdicts, cut = [], False
    for op in graph.operators:
        v = op_verdict(graph, op)
        if cut and v.on_tpu:
            v = OpVerdict(
                v.op, v.index, False, "after an unsupported op: the compiler cuts the graph there"
            )
        cut = cut or not v.on_tpu
        verdicts.append(v)
    return verdicts


def compile_for_edgetpu(model_path: Path) -> tuple[Path, int, int]:
    """Run edgetpu_compiler; return (model_edgetpu.tflite, ops mapped to the TPU, total ops)."""
    compiler = shutil.which("edgetpu_compiler")
    if compiler is None:
        raise EdgeCnnError(f"edgetpu_compiler is not on PATH: {INSTALL_HINT}")
    out_dir = model_path.parent
    proc = subprocess.run(
        [compiler, "--out_dir", str(out_dir), "--show_operations", str(model_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgeCnnError(f"edgetpu_compiler failed on {model_path}: {last[0]}")
    mapped = re.search(r"Number of operations that will run on Edge TPU:\s*(\d+)", proc.stdout)
    total = re.search(r"Number of operations in TFLite model:\s*(\d+)", proc.stdout)
    compiled = out_dir / f"{model_path.stem}_edgetpu.tflite"
    return compiled, int(mapped.group(1)) if mapped else 0, int(total.group(1)) if total else 0
