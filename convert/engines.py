"""The engines `edgecnn verify` runs a model on, behind one interface.

    numpy      the NumPy reference (edgecnn.reference): every tensor, end to end
    reference  TFLite's reference kernels (BUILTIN_REF): every tensor, end to end; the
               ground truth of int8 arithmetic
    optimized  TFLite's default kernels (XNNPACK), what `edgecnn run` uses
    micro      TFLite Micro (the tflite-micro package), what a microcontroller runs

`optimized` and `micro` are runtimes under test. Their graph outputs come from the whole
model run end to end, as a device runs it; their tensors come from each operator run alone
(`single_op`) on the ground truth's inputs to it, so each kernel is compared by itself and
a difference is found where it is made, not where it has grown to after ten layers.

Each engine's `run(inputs, truth)` takes a chunk of invocations, one array per model input
shaped (invocations, *the input's graph shape), and returns the tensors it exposes and the
graph outputs, stacked the same way. `ENGINES` maps a name to the function that builds the
engine: a test or a plug-in may add or replace one (for example an engine wrapping a real
interpreter with a fault) and select it with `--engines`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.backends import choose_backend
from edgecnn.bundle import ModelBundle, ModelFile
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.native_output import quiet_native_output
from edgecnn.reference.interpreter import ReferenceInterpreter

TITLES = {
    "numpy": "NumPy reference",
    "reference": "TFLite reference kernels",
    "optimized": "TFLite optimized kernels",
    "micro": "TFLite Micro",
}
DEFAULT_ENGINES = ("numpy", "reference", "optimized")


@dataclass
class EngineResult:
    tensors: dict[int, np.ndarray]
    outputs: list[np.ndarray]


@dataclass
class Engine:
    """`run(inputs, truth) -> EngineResult`; `per_op`: its tensors are each operator run
    alone on `truth`'s inputs; `exposes`: the tensor indices it returns."""

    name: str
    title: str
    run: Callable[[list[np.ndarray], dict[int, np.ndarray] | None], EngineResult]
    exposes: frozenset[int]
    per_op: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class VerifyModel:
    """What engine builders get: the model file (as the bundle read it) and the NumPy
    reference of it."""

    file: ModelFile
    ri: ReferenceInterpreter

    @property
    def path(self) -> Path | None:
        return self.file.path

    @property
    def content(self) -> bytes:
        return self.file.content

    @property
    def produced(self) -> frozenset[int]:
        return frozenset(o for op in self.ri.operators for o in op.outputs)


def stack(parts: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.stack(column) for column in zip(*parts, strict=True)]


class Runner:
    """A TFLite interpreter (LiteRT's or one with its interface) as `outputs = runner(inputs)`
    for one invocation: inputs and outputs in the model's order, graph-shaped."""

    def __init__(self, interpreter) -> None:
        self.interpreter = interpreter
        self.inputs = [d["index"] for d in interpreter.get_input_details()]
        self.outputs = [d["index"] for d in interpreter.get_output_details()]

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for index, x in zip(self.inputs, inputs, strict=True):
            self.interpreter.set_tensor(index, x)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(index).copy() for index in self.outputs]

    def tensors(self, indices) -> dict[int, np.ndarray]:
        return {i: self.interpreter.get_tensor(i).copy() for i in indices}


class MicroRunner:
    """A TFLite Micro interpreter with the same call."""

    def __init__(self, interpreter, inputs: int, outputs: int) -> None:
        self.interpreter, self.n_inputs, self.n_outputs = interpreter, inputs, outputs

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for k, x in enumerate(inputs):
            self.interpreter.set_input(np.ascontiguousarray(x), k)
        self.interpreter.invoke()
        return [np.array(self.interpreter.get_output(k)) for k in range(self.n_outputs)]


def numpy_engine(model: VerifyModel) -> Engine:
    ri = model.ri
    produced = model.produced
    batch_one = all(t.shape[:1] == (1,) for t in ri.input_details())

    def run(inputs: list[np.ndarray], truth=None) -> EngineResult:
        n = len(inputs[0]) if inputs else 0
        if batch_one:  # the fast path: the whole chunk as one batch
            outputs, values = ri.run(*(x.reshape(n, *x.shape[2:]) for x in inputs),
                                     keep_tensors=True)  # fmt: skip
            tensors = {i: values[i].reshape(n, *ri.tensors[i].shape) for i in produced}
            outs = [o.reshape(n, *ri.tensors[i].shape) for o, i in zip(outputs, ri.output_indices, strict=True)]  # fmt: skip
            return EngineResult(tensors, outs)
        # A model of another batch: each invocation exactly as the graph holds it.
        runs = [ri.run_chunk(*(x[b] for x in inputs), keep_tensors=True) for b in range(n)]
        tensors = {i: np.stack([r[1][i] for r in runs]) for i in produced}
        return EngineResult(tensors, stack([r[0] for r in runs]))

    return Engine("numpy", TITLES["numpy"], run, produced)


def kernels_engine(model: VerifyModel, interpreter) -> Engine:
    """TFLite's reference kernels, every tensor kept (experimental_preserve_all_tensors)."""
    runner = Runner(interpreter)
    produced = model.produced

    def run(inputs: list[np.ndarray], truth=None) -> EngineResult:
        outs, tensors = [], []
        for b in range(len(inputs[0]) if inputs else 0):
            outs.append(runner([x[b] for x in inputs]))
            tensors.append(runner.tensors(produced))
        return EngineResult({i: np.stack([t[i] for t in tensors]) for i in produced}, stack(outs))

    return Engine("reference", TITLES["reference"], run, produced)


def runtime_engine(
    name: str, model: VerifyModel, whole: Runner | MicroRunner, per_op: list[tuple]
) -> Engine:
    """A runtime under test: graph outputs from `whole`, and each tensor from its operator
    run alone. `per_op` holds (SingleOpModel, runner) pairs."""

    def run(inputs: list[np.ndarray], truth: dict[int, np.ndarray] | None) -> EngineResult:
        n = len(inputs[0]) if inputs else 0
        outs = [whole([x[b] for x in inputs]) for b in range(n)]
        tensors: dict[int, list[np.ndarray]] = {}
        if truth is not None:
            for op, runner in per_op:
                for b in range(n):
                    for i, value in zip(op.outputs, runner([truth[i][b] for i in op.inputs]),
                                        strict=True):  # fmt: skip
                        tensors.setdefault(i, []).append(value)
        return EngineResult({i: np.stack(v) for i, v in tensors.items()}, stack(outs))

    exposes = frozenset(o for op, _ in per_op for o in op.outputs)
    return Engine(name, TITLES.get(name, name), run, exposes, per_op=True)


def load_interpreters(bundle: ModelBundle | VerifyModel):
    """TFLite's reference kernels, every tensor kept, and its default optimized kernels as
    `edgecnn run` opens them (its graph outputs are what a device computes)."""
    backend = tflite_backend()
    reference = backend.open(bundle.file, kernels="reference", keep_all_tensors=True)
    optimized = backend.open(bundle.file, threads=1)
    return reference, optimized


def tflite_backend():
    """The TFLite runtime verify compares with (never the NumPy reference as a fallback)."""
    try:
        return choose_backend("auto", reference_fallback=False)
    except EdgeCnnError as exc:
        raise EdgeCnnError(f"verify compares with TFLite's own kernels: {exc}") from None


def optimized_interpreter(content: bytes, what: str):
    """TFLite's default optimized kernels for a model in memory (one operator alone)."""
    try:
        return tflite_backend().open(ModelFile.from_bytes(content), threads=1)
    except EdgeCnnError as exc:
        raise EdgeCnnError(f"{what}: {exc}") from None


def reference_engine(model: VerifyModel) -> Engine:
    reference, _ = load_interpreters(model)
    return kernels_engine(model, reference)


def optimized_engine(model: VerifyModel) -> Engine:
    """The default kernels as `run` opens them for the outputs, and each operator alone in
    the same kind of interpreter. EDGECNN_PERTURB_RUNTIME (edgecnn.fault_injection) plants
    a fault in both (edgecnn.backends opens them through it)."""
    from edgecnn.convert.single_op import single_op_models

    _, whole = load_interpreters(model)
    try:
        operators = single_op_models(model.content)
    except EdgeCnnError as exc:  # tflite-runtime alone (32-bit ARM) ships no schema
        operators, note = [], f"outputs only: {exc}"
    else:
        note = None
    per_op = []
    for op in operators:
        what = f"{model.ri.operators[op.op_index].name} (operator {op.op_index}) alone"
        per_op.append((op, Runner(optimized_interpreter(op.content, what))))
    engine = runtime_engine("optimized", model, Runner(whole), per_op)
    engine.notes += [note] if note else []
    return engine


def micro_interpreter(content: bytes, arena_size: int):
    """A TFLite Micro interpreter of `content`, or a one-line error."""
    try:
        from tflite_micro import runtime
    except ImportError:
        raise EdgeCnnError(
            "engine micro needs TFLite Micro: pip install 'edgecnn[micro]' (the tflite-micro "
            "package; wheels for Linux x86-64)"
        ) from None
    with quiet_native_output():
        return runtime.Interpreter.from_bytes(content, arena_size=arena_size)


def arena_size(ri: ReferenceInterpreter, content: bytes) -> int:
    """Twice every activation's bytes plus room for the kernels' scratch buffers: enough for
    any plan TFLite Micro's allocator makes (it needs at most the sum)."""
    activations = sum(
        int(np.prod(t.shape)) * (t.dtype.itemsize if t.dtype is not None else 4)
        for t in ri.tensors
        if not t.is_constant
    )
    return 2 * activations + len(content) + (1 << 20)


def micro_engine(model: VerifyModel) -> Engine:
    from edgecnn.convert.single_op import single_op_models

    ri = model.ri

    def load(content: bytes, what: str, inputs: int, outputs: int) -> MicroRunner:
        try:
            interpreter = micro_interpreter(content, arena_size(ri, content))
        except (RuntimeError, ValueError) as exc:
            raise EdgeCnnError(f"TFLite Micro cannot run {what}: {first_line(exc)}") from None
        return MicroRunner(interpreter, inputs, outputs)

    whole = load(model.content, str(model.path), len(ri.input_indices), len(ri.output_indices))
    per_op = [
        (
            op,
            load(
                op.content,
                f"{ri.operators[op.op_index].name} (operator {op.op_index})",
                len(op.inputs),
                len(op.outputs),
            ),
        )
        for op in single_op_models(model.content)
    ]
    return runtime_engine("micro", model, whole, per_op)


ENGINES: dict[str, Callable[[VerifyModel], Engine]] = {
    "numpy": numpy_engine,
    "reference": reference_engine,
    "optimized": optimized_engine,
    "micro": micro_engine,
}


def build_engines(names: list[str], model: VerifyModel) -> list[Engine]:
    """The engines named, in the order given, or a one-line error for an unknown name."""
    unknown = [name for name in names if name not in ENGINES]
    if unknown or not names:
        raise EdgeCnnError(
            f"--engines {','.join(names)}: choose from {', '.join(ENGINES)} (comma-separated)"
        )
    return [ENGINES[name](model) for name in names]


__all__ = [
    "DEFAULT_ENGINES",
    "ENGINES",
    "TITLES",
    "Engine",
    "EngineResult",
    "MicroRunner",
    "Runner",
    "VerifyModel",
    "build_engines",
    "kernels_engine",
    "micro_engine",
    "numpy_engine",
    "runtime_engine",
]
