"""Which engines agree with which: per tensor where both expose it, on the graph outputs,
and on the predictions; the contract (`edgecnn.contract`) applied to each engine against the
ground truth; and the known causes a difference matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from edgecnn.contract import (
    FLOAT_RTOL,
    KERNEL_LSB,
    MIN_AGREEMENT,
    argmax_agreement,
    output_tolerance,
    within,
)
from edgecnn.convert.engines import Engine, EngineResult
from edgecnn.reference.interpreter import ReferenceInterpreter
from edgecnn.reference.registry import OpContext

# Ops whose int8 kernels XNNPACK requantises its own way: float32 multiplier, round half to
# even (docs/int8.md section 5), 1 LSB from the reference kernels.
XNNPACK_REQUANTISING = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "QUANTIZE", "ADD",
    "SUB", "MUL", "MEAN", "AVERAGE_POOL_2D", "CONCATENATION", "PAD", "RESIZE_NEAREST_NEIGHBOR",
}  # fmt: skip
# Ops XNNPACK computes with arithmetic of its own, several LSB from the reference kernels.
XNNPACK_OWN_ARITHMETIC = {"LEAKY_RELU", "PRELU", "HARD_SWISH", "RESIZE_BILINEAR", "TANH", "ELU"}
# TFLite Micro's kernels that are not the reference kernels' arithmetic.
MICRO_OWN_ARITHMETIC = {"LOGISTIC", "TANH"}


@dataclass
class TensorDiff:
    """Running comparison of one tensor (or graph output) between two engines."""

    name: str
    op: str
    is_float: bool = False
    max_abs_diff: float = 0.0
    max_abs_value: float = 0.0
    differing: int = 0
    elements: int = 0

    def update(self, ours: np.ndarray, theirs: np.ndarray) -> None:
        theirs64 = theirs.astype(np.float64)
        diff = np.abs(ours.astype(np.float64) - theirs64)
        if diff.size:
            self.max_abs_diff = max(self.max_abs_diff, float(diff.max()))
            self.max_abs_value = max(self.max_abs_value, float(np.abs(theirs64).max()))
        self.differing += int(np.count_nonzero(diff))
        self.elements += diff.size

    @property
    def float_tolerance(self) -> float:
        return FLOAT_RTOL * max(1.0, self.max_abs_value)

    def summary(self) -> dict:
        summary = {
            "name": self.name,
            "op": self.op,
            "max_abs_diff": self.max_abs_diff,
            "fraction_differing": self.differing / self.elements if self.elements else 0.0,
        }
        if self.is_float:
            summary["float_tolerance"] = self.float_tolerance
        return summary


@dataclass
class Breach:
    """One place an engine broke the contract: the line verify prints."""

    engine: str
    what: str  # "tensor NAME (OP)", "output NAME (OP)", "predictions"
    difference: str
    tolerance: str
    cause: str | None = None

    def line(self) -> str:
        cause = f"; {self.cause}" if self.cause else ""
        return f"{self.engine}: {self.what} {self.difference} (contract: {self.tolerance}){cause}"


@dataclass
class Agreement:
    """Every pair of engines compared, chunk by chunk (`add`), then judged (`breaches`)."""

    ri: ReferenceInterpreter
    engines: list[Engine]
    tensors: dict[tuple[str, str], dict[int, TensorDiff]] = field(default_factory=dict)
    outputs: dict[tuple[str, str], list[TensorDiff]] = field(default_factory=dict)
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict)
    first_outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    fc_other_rounding: dict[tuple[str, int], bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        producer = {o: op for op in self.ri.operators for o in op.outputs}
        self.producer = producer

        def diff(i: int) -> TensorDiff:
            t = self.ri.tensors[i]
            return TensorDiff(t.name, producer[i].name if i in producer else "input",
                              t.type_name == "float32")  # fmt: skip

        for a, b in self.pairs():
            shared = sorted(a.exposes & b.exposes)
            self.tensors[(a.name, b.name)] = {i: diff(i) for i in shared}
            self.outputs[(a.name, b.name)] = [diff(i) for i in self.ri.output_indices]
        self.fc_other_rounding = {
            (e.name, o): True
            for e in self.engines
            if e.per_op
            for op in self.ri.operators
            if op.name == "FULLY_CONNECTED"
            for o in op.outputs
        }

    @property
    def truth(self) -> Engine:
        """The ground truth: TFLite's reference kernels when they ran, else the NumPy reference."""
        return next((e for e in self.engines if e.name == "reference"), self.engines[0])

    def pairs(self) -> list[tuple[Engine, Engine]]:
        return list(combinations(self.engines, 2))

    def add(self, results: dict[str, EngineResult]) -> None:
        for a, b in self.pairs():
            ra, rb = results[a.name], results[b.name]
            for i, d in self.tensors[(a.name, b.name)].items():
                if i in ra.tensors and i in rb.tensors:
                    d.update(ra.tensors[i], rb.tensors[i])
            for d, x, y in zip(self.outputs[(a.name, b.name)], ra.outputs, rb.outputs,
                               strict=True):  # fmt: skip
                d.update(x, y)
        for name, result in results.items():
            first = result.outputs[0]
            self.first_outputs.setdefault(name, []).append(first.reshape(-1, first.shape[-1])
                                                           if first.ndim > 1 else first[:, None])  # fmt: skip
        self.check_fc_rounding(results)

    def check_fc_rounding(self, results: dict[str, EngineResult]) -> None:
        """Whether each engine's FULLY_CONNECTED, where it differs, equals the other rounding
        (fixed-point MBQM vs double precision) computed on the same inputs."""
        if not self.fc_other_rounding:
            return
        truth = results[self.truth.name].tensors
        other = "mbqm" if self.ri.fc_rounding == "double" else "double"
        for op in self.ri.operators:
            if op.name != "FULLY_CONNECTED" or not all(
                i < 0 or i in truth or self.ri.tensors[i].is_constant for i in op.inputs
            ):
                continue
            alternative = fully_connected(self.ri, op, truth, other)
            for engine in self.engines:
                key = (engine.name, op.outputs[0])
                if key in self.fc_other_rounding and op.outputs[0] in results[engine.name].tensors:
                    theirs = results[engine.name].tensors[op.outputs[0]]
                    if not np.array_equal(theirs.reshape(alternative.shape), alternative):
                        self.fc_other_rounding[key] = False

    def first_output(self, name: str) -> np.ndarray:
        return np.concatenate(self.first_outputs[name])

    def agreement(self, name: str) -> tuple[float, int, float]:
        """(argmax agreement with the ground truth, near ties, the tolerance used)."""
        truth = self.first_output(self.truth.name)
        index = self.ri.output_indices[0]
        tolerance, _ = output_tolerance(self.ri.model, index)
        if self.ri.tensors[index].type_name == "float32":
            tolerance = tolerance * max(1.0, float(np.abs(truth).max(initial=0)))
        agreement, near = argmax_agreement(truth, self.first_output(name), tolerance)
        return agreement, near, tolerance

    def pair(self, a: Engine, b: Engine) -> tuple[str, str]:
        return (a.name, b.name) if (a.name, b.name) in self.tensors else (b.name, a.name)

    def cause(self, engine: Engine, op: str, tensor: int | None, diff: float) -> str | None:
        """The known cause a difference from the ground truth matches, if any."""
        if engine.name == "numpy" and op == "FULLY_CONNECTED":
            return None
        if tensor is not None and self.fc_other_rounding.get((engine.name, tensor)):
            ours = "once in double precision" if self.ri.fc_rounding == "double" else "twice"
            return (
                f"FULLY_CONNECTED requantisation: {engine.title} rounds the other way "
                "(single vs double rounding: fixed-point MultiplyByQuantizedMultiplier rounds "
                f"twice, LiteRT >= 1.3's reference kernel rounds {ours}); its output equals "
                "that rounding on every input"
            )
        if engine.name == "optimized" and op in XNNPACK_OWN_ARITHMETIC:
            return f"XNNPACK computes {op} with arithmetic of its own, not the reference kernel's"
        if engine.name == "optimized" and op in XNNPACK_REQUANTISING and diff <= KERNEL_LSB:
            return "XNNPACK's 1-LSB differences (float32 requantisation, rounding half to even)"
        if engine.name == "micro" and op in MICRO_OWN_ARITHMETIC:
            return f"TFLite Micro's fixed-point {op}, not the reference kernel's table"
        return None

    def output_cause(self, engine: Engine, k: int, diff: float) -> str | None:
        index = self.ri.output_indices[k]
        tolerance, why = output_tolerance(self.ri.model, index)
        if "allowance" in why and KERNEL_LSB < diff <= tolerance:
            return why
        upstream = [
            self.cause(engine, self.producer[i].name, i, d.max_abs_diff)
            for i, d in self.tensors.get(self.pair(self.truth, engine), {}).items()
            if d.max_abs_diff > 0 and i in self.producer
        ]
        upstream = [c for c in upstream if c]
        if upstream:
            return "follows from: " + "; ".join(dict.fromkeys(upstream))
        return None

    def breaches(self) -> list[Breach]:
        """Every engine against the ground truth; the worst breach of each check first."""
        truth = self.truth
        found: list[Breach] = []
        for engine in self.engines:
            if engine is truth:
                continue
            diffs = self.tensors[self.pair(truth, engine)]
            exact = engine.name == "numpy"
            lsb = 0 if exact else KERNEL_LSB
            worst = None
            for i, d in diffs.items():
                if not within(d.max_abs_diff, FLOAT_RTOL if d.is_float else lsb, d.is_float,
                              d.max_abs_value):  # fmt: skip
                    excess = d.max_abs_diff / max(d.float_tolerance if d.is_float else lsb, 1e-30)
                    if worst is None or excess > worst[0]:
                        worst = (excess, i, d)
            if worst is not None:
                _, i, d = worst
                tolerance = (
                    f"|diff| <= {FLOAT_RTOL:g} * max(1, max |value|) = {d.float_tolerance:.3g}"
                    if d.is_float
                    else ("bit-exact" if exact else f"{lsb} LSB, each operator fed the same inputs")
                )
                alone = " run alone on the same inputs" if engine.per_op else ""
                found.append(Breach(
                    f"{engine.name} ({engine.title})",
                    f"tensor {d.name} ({d.op}){alone}",
                    f"differs from the {truth.title} by {d.max_abs_diff:g}"
                    + (" LSB" if not d.is_float else ""),
                    tolerance,
                    self.cause(engine, d.op, i, d.max_abs_diff),
                ))  # fmt: skip
            for k, d in enumerate(self.outputs[self.pair(truth, engine)]):
                index = self.ri.output_indices[k]
                tolerance, why = output_tolerance(self.ri.model, index)
                if exact and not d.is_float:
                    tolerance, why = 0, "bit-exact"
                if not within(d.max_abs_diff, tolerance, d.is_float, d.max_abs_value):
                    found.append(Breach(
                        f"{engine.name} ({engine.title})",
                        f"output {d.name} ({d.op})",
                        f"differs from the {truth.title} by {d.max_abs_diff:g}"
                        + (" LSB" if not d.is_float else "") + " run end to end",
                        why,
                        self.output_cause(engine, k, d.max_abs_diff)
                        or ("each operator is within the contract alone: the graph amplifies "
                            "their rounding differences" if engine.per_op and not any(
                                b.engine.startswith(engine.name + " ") for b in found) else None),
                    ))  # fmt: skip
            agreement, near, _ = self.agreement(engine.name)
            if agreement < MIN_AGREEMENT:
                found.append(Breach(
                    f"{engine.name} ({engine.title})",
                    "predictions",
                    f"agree with the {truth.title}'s on {100 * agreement:.2f}% of the inputs"
                    + (f" ({near} near ties counted as agreeing)" if near else ""),
                    f"argmax agreement >= {100 * MIN_AGREEMENT:g}%",
                ))  # fmt: skip
        return found

    def matrix(self) -> dict:
        """The agreement matrix: per pair of engines, per tensor both expose, per output."""
        pairs = []
        for a, b in self.pairs():
            key = (a.name, b.name)
            tensors = [d.summary() for d in self.tensors[key].values()]
            outputs = [d.summary() for d in self.outputs[key]]
            entry = {
                "engines": [a.name, b.name],
                "tensors_compared": len(tensors),
                "max_abs_diff_tensors": max((t["max_abs_diff"] for t in tensors), default=None),
                "max_abs_diff_outputs": max((t["max_abs_diff"] for t in outputs), default=0.0),
                "tensors": tensors,
                "outputs": outputs,
            }
            a_first, b_first = self.first_output(a.name), self.first_output(b.name)
            entry["argmax_agreement"] = float(
                np.mean(a_first.argmax(axis=1) == b_first.argmax(axis=1))
            )
            causes = []
            for e, other in ((b, a), (a, b)):
                if other is self.truth:
                    causes += [
                        self.cause(e, d.op, i, d.max_abs_diff)
                        for i, d in self.tensors[key].items()
                        if d.max_abs_diff > 0 and i in self.producer
                    ]
                    causes += [
                        self.output_cause(e, k, d.max_abs_diff)
                        for k, d in enumerate(self.outputs[key])
                        if d.max_abs_diff > 0
                    ]
            entry["known_causes"] = list(dict.fromkeys(c for c in causes if c))
            pairs.append(entry)
        return {"engines": [e.name for e in self.engines], "ground_truth": self.truth.name,
                "pairs": pairs}  # fmt: skip


def fully_connected(
    ri: ReferenceInterpreter, op, tensors: dict[int, np.ndarray], fc_rounding: str
) -> np.ndarray:
    """One FULLY_CONNECTED of the graph computed by the NumPy reference with the given
    requantisation, on `tensors` (stacked invocations, graph-shaped)."""
    from edgecnn.reference.registry import lookup

    n = next(len(tensors[i]) for i in op.inputs if i >= 0 and i in tensors)
    inputs = []
    for i in op.inputs:
        if i < 0:
            inputs.append(None)
        elif ri.tensors[i].is_constant:
            inputs.append(ri.tensors[i].data)
        else:
            value = tensors[i]
            inputs.append(value.reshape(n * value.shape[1], *value.shape[2:]))
    ctx = OpContext(
        inputs=inputs,
        input_tensors=[ri.tensors[i] if i >= 0 else None for i in op.inputs],
        output_tensors=[ri.tensors[o] for o in op.outputs],
        options=op.options,
        fc_rounding=fc_rounding,
    )
    (out,) = lookup(op.name).function(ctx)
    return out.reshape(n, *ri.tensors[op.outputs[0]].shape)
