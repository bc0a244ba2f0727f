"""`edgecnn verify`: prove an int8 .tflite against TFLite's own kernels and the data set.

Three engines run the same inputs: TFLite's reference kernels (the ground truth for int8
arithmetic), the default optimized kernels (what a device runs) and our NumPy reference.
Every tensor of the graph is compared between NumPy and the reference kernels; the
optimized kernels keep their intermediates inside XNNPACK, so only the graph outputs are
compared with them.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.atomic import atomic_path, atomic_write_text
from edgecnn.convert.reference.interpreter import ReferenceInterpreter
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.labels import model_labels
from edgecnn.metrics import confusion_matrix, per_class_accuracy
from edgecnn.native_output import quiet_native_output
from edgecnn.quantization import pixels_to_model_input
from edgecnn.sidecar import DEFAULT_INPUT_RANGE, check_model_file, find_sidecar

CHUNK = 64
DEFAULT_RANDOM_SAMPLES = 1000


@dataclass
class TensorDiff:
    """Running comparison of one tensor between two engines."""

    name: str
    op: str
    max_abs_diff: int = 0
    differing: int = 0
    elements: int = 0

    def update(self, ours: np.ndarray, theirs: np.ndarray) -> None:
        diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
        self.max_abs_diff = max(self.max_abs_diff, float(diff.max()) if diff.size else 0.0)
        self.differing += int(np.count_nonzero(diff))
        self.elements += diff.size

    def summary(self) -> dict:
        return {
            "name": self.name,
            "op": self.op,
            "max_abs_diff": self.max_abs_diff,
            "fraction_differing": self.differing / self.elements if self.elements else 0.0,
        }


@dataclass
class Comparison:
    reference_kernels: dict[int, TensorDiff] = field(default_factory=dict)
    optimized_kernels: dict[int, TensorDiff] = field(default_factory=dict)


NOT_IN_XNNPACK = {"SOFTMAX", "AVERAGE_POOL_2D", "LOGISTIC", "MEAN"}


def optimized_visible(ri: ReferenceInterpreter) -> list[int]:
    """Tensors the optimized interpreter writes where we can read them: graph outputs and the
    inputs of ops XNNPACK leaves to the builtin kernels (its partitions keep the rest inside)."""
    visible = set(ri.output_indices)
    for op in ri.operators:
        if op.name in NOT_IN_XNNPACK:
            visible.update(i for i in op.inputs if i >= 0 and not ri.tensors[i].is_constant)
    return sorted(visible)


def tflite_interpreter():
    """(Interpreter, OpResolverType) of ai-edge-litert, else of tflite-runtime (the only
    runtime on 32-bit ARM). `default_fc_rounding` looks for them in the same order."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise EdgeCnnError(
                "verify needs a TFLite runtime: pip install ai-edge-litert "
                "(on 32-bit ARM: tflite-runtime)"
            ) from None
    return Interpreter, OpResolverType


def load_interpreters(model: Path):
    """TFLite's reference kernels and its default optimized kernels, every tensor kept."""
    Interpreter, OpResolverType = tflite_interpreter()
    try:
        with quiet_native_output(), warnings.catch_warnings():
            # "preserve_all_tensors is for debugging": so are we.
            warnings.simplefilter("ignore", UserWarning)
            reference = Interpreter(
                model_path=str(model),
                experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                experimental_preserve_all_tensors=True,
            )
            optimized = Interpreter(
                model_path=str(model), num_threads=1, experimental_preserve_all_tensors=True
            )
            reference.allocate_tensors()
            optimized.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise EdgeCnnError(f"LiteRT cannot load {model}: {first_line(exc)}") from None
    return reference, optimized


def dataset_inputs(
    ri: ReferenceInterpreter, model: Path, data_dir, limit
) -> tuple[np.ndarray, np.ndarray]:
    """Test images as the model's input (pixels through its input range, then quantised)."""
    from edgecnn.data import load_fashion_mnist

    t = ri.input_details()[0]
    if t.shape[1:] != (28, 28, 1):
        raise EdgeCnnError(
            f"{model} takes {list(t.shape)}, not Fashion-MNIST's [1, 28, 28, 1]: use --inputs random"
        )
    sidecar = find_sidecar(model)
    input_range = sidecar.input_range if sidecar else DEFAULT_INPUT_RANGE
    test = load_fashion_mnist("test", data_dir, limit=limit)
    return pixels_to_model_input(test.images, input_range, t), test.labels


def random_inputs(ri: ReferenceInterpreter, samples: int, seed: int = 0) -> np.ndarray:
    t = ri.input_details()[0]
    rng = np.random.default_rng(seed)
    if np.issubdtype(t.dtype, np.floating):
        return rng.random((samples, *t.shape[1:])).astype(t.dtype)
    info = np.iinfo(t.dtype)
    return rng.integers(info.min, info.max + 1, (samples, *t.shape[1:])).astype(t.dtype)


def compare_engines(
    ri: ReferenceInterpreter, model: Path, x: np.ndarray
) -> tuple[Comparison, dict[str, np.ndarray]]:
    """Run all three engines on `x`; return per-tensor comparisons and each engine's outputs."""
    reference, optimized = load_interpreters(model)
    ref_in, opt_in = (
        reference.get_input_details()[0]["index"],
        optimized.get_input_details()[0]["index"],
    )
    out_index = ri.output_indices[0]
    producer = {o: op.name for op in ri.operators for o in op.outputs}
    comparison = Comparison(
        {i: TensorDiff(ri.tensors[i].name, name) for i, name in producer.items()},
        {
            i: TensorDiff(ri.tensors[i].name, producer[i])
            for i in optimized_visible(ri)
            if i in producer
        },
    )
    outputs = {"numpy": [], "reference_kernels": [], "optimized_kernels": []}
    for start in range(0, len(x), CHUNK):
        batch = x[start : start + CHUNK]
        ours, tensors = ri.run(batch, keep_tensors=True)
        outputs["numpy"].append(ours[0])
        for b in range(len(batch)):
            reference.set_tensor(ref_in, batch[b : b + 1])
            reference.invoke()
            for index, diff in comparison.reference_kernels.items():
                diff.update(tensors[index][b : b + 1], reference.get_tensor(index))
            outputs["reference_kernels"].append(reference.get_tensor(out_index).copy())
            optimized.set_tensor(opt_in, batch[b : b + 1])
            optimized.invoke()
            for index, diff in comparison.optimized_kernels.items():
                diff.update(tensors[index][b : b + 1], optimized.get_tensor(index))
            outputs["optimized_kernels"].append(optimized.get_tensor(out_index).copy())
    return comparison, {k: np.concatenate(v) for k, v in outputs.items()}


def float_accuracy(keras_model: Path, data_dir, limit) -> tuple[float, np.ndarray]:
    """Accuracy of the float Keras model on the same test images."""
    from edgecnn.data import load_fashion_mnist
    from edgecnn.train.keras_file import load_keras_model

    model = load_keras_model(keras_model)
    test = load_fashion_mnist("test", data_dir, limit=limit)
    sidecar = find_sidecar(keras_model)
    x = pixels_to_model_input(test.images, sidecar.input_range if sidecar else DEFAULT_INPUT_RANGE)
    with quiet_native_output(capture_stdout=True):
        probabilities = model.predict(x, batch_size=512, verbose=0)
    predictions = probabilities.argmax(axis=1)
    return float(np.mean(predictions == test.labels)), predictions


def write_confusion_png(path: Path, matrix: np.ndarray, names: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if v > matrix.max() / 2 else "black")  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def run_verify(
    model: Path,
    keras_model: Path | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
    inputs: str = "dataset",
    samples: int | None = None,
    max_drop: float = 1.0,
    as_json: bool = False,
    report_dir: Path | None = None,
    fc_rounding: str | None = None,
    verify_hash: bool = True,
) -> dict:
    model = Path(model)
    check_model_file(model, verify_hash)
    result, failures = verify_model(
        model, keras_model, data_dir, limit, inputs, samples, max_drop, report_dir, fc_rounding
    )
    print(json.dumps(result) if as_json else format_result(result), flush=True)
    if failures:
        print(f"edgecnn: verify failed: {'; '.join(failures)}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    return result


def verify_model(
    model, keras_model, data_dir, limit, inputs, samples, max_drop, report_dir, fc_rounding
):
    """Run the comparison; return the result and the list of failed checks."""
    ri = ReferenceInterpreter(model, fc_rounding=fc_rounding)
    if inputs == "dataset":
        x, labels = dataset_inputs(ri, model, data_dir, limit)
    else:
        x, labels = random_inputs(ri, samples or DEFAULT_RANDOM_SAMPLES), None
    comparison, outputs = compare_engines(ri, model, x)

    def argmax(out: np.ndarray) -> np.ndarray:
        return out.reshape(len(out), -1).argmax(axis=1)

    ours, optimized = argmax(outputs["numpy"]), argmax(outputs["optimized_kernels"])
    ref_tensors = [d.summary() for d in comparison.reference_kernels.values()]
    opt_tensors = [d.summary() for d in comparison.optimized_kernels.values()]
    max_ref = max((t["max_abs_diff"] for t in ref_tensors), default=0.0)
    max_opt = max((t["max_abs_diff"] for t in opt_tensors), default=0.0)
    result = {
        "model": str(model),
        "inputs": inputs,
        "samples": len(x),
        "fc_rounding": ri.fc_rounding,
        "float_accuracy": None,
        "int8_accuracy": float(np.mean(optimized == labels)) if labels is not None else None,
        "reference_accuracy": float(np.mean(ours == labels)) if labels is not None else None,
        "agreement": float(np.mean(ours == optimized)),
        "bit_exact": max_ref == 0,
        "max_abs_diff_reference_kernels": max_ref,
        "max_abs_diff_optimized_kernels": max_opt,
        "tensors": {"reference_kernels": ref_tensors, "optimized_kernels": opt_tensors},
        "optimized_kernels_note": (
            "XNNPACK keeps the tensors inside its partitions to itself: compared are the graph "
            "outputs and the inputs of ops it leaves to the builtin kernels (e.g. SOFTMAX)"
        ),
    }
    names = model_labels(model, int(np.prod(ri.output_details()[0].shape[1:])))
    if labels is not None:
        matrix = confusion_matrix(labels, optimized, len(names))
        result["per_class_accuracy"] = {
            name: accuracy
            for name, accuracy in per_class_accuracy(matrix, names).items()
            if accuracy is not None
        }
    if keras_model is not None and labels is not None:
        result["float_accuracy"], _ = float_accuracy(Path(keras_model), data_dir, limit)
        from edgecnn.convert.layer_errors import layer_errors

        with quiet_native_output(capture_stdout=True):
            result["layer_errors"] = layer_errors(Path(keras_model), x, ri)
    failures = []
    if not result["bit_exact"]:
        failures.append(
            f"NumPy reference differs from TFLite's reference kernels by up to {max_ref:g}"
        )
    if result["float_accuracy"] is not None:
        drop = 100 * (result["float_accuracy"] - result["int8_accuracy"])
        result["accuracy_drop_points"] = round(drop, 3)
        if drop > max_drop:
            failures.append(
                f"int8 accuracy is {drop:.2f} points below float (--max-drop {max_drop})"
            )
    result["passed"] = not failures
    if report_dir is not None:
        write_report(Path(report_dir), result, labels, optimized, names)
    return result, failures


def write_report(folder: Path, result: dict, labels, predictions, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "verify_report.json", json.dumps(result, indent=2) + "\n")
    if labels is not None:
        matrix = confusion_matrix(labels, predictions, len(names))
        result["confusion_matrix"] = matrix.tolist()
        atomic_write_text(folder / "verify_report.json", json.dumps(result, indent=2) + "\n")
        accuracy = 100 * result["int8_accuracy"]
        write_confusion_png(
            folder / "confusion_matrix.png",
            matrix,
            names,
            f"int8 model: {accuracy:.2f}% on {len(labels)} test images",
        )


def format_result(r: dict) -> str:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    lines = [
        f"verify {r['model']} on {r['samples']} {'test images' if r['inputs'] == 'dataset' else 'random inputs'}",
        f"  float accuracy        {pct(r['float_accuracy'])}",
        f"  int8 accuracy         {pct(r['int8_accuracy'])}  (TFLite optimized kernels)",
        f"  reference accuracy    {pct(r['reference_accuracy'])}  (NumPy reference)",
        f"  argmax agreement      {pct(r['agreement'])}",
        f"  bit-exact vs TFLite reference kernels: {'yes' if r['bit_exact'] else 'NO'}"
        f" (max |diff| {r['max_abs_diff_reference_kernels']:g} over {len(r['tensors']['reference_kernels'])} tensors)",
        "  vs optimized kernels: "
        + ", ".join(
            f"{t['op']} max |diff| {t['max_abs_diff']:g}" for t in r["tensors"]["optimized_kernels"]
        ),
        "  tensor                                   op                 max|d| ref  differing ref",
    ]
    for t in r["tensors"]["reference_kernels"]:
        lines.append(
            f"  {t['name'][:40]:<40} {t['op']:<18} {t['max_abs_diff']:>10g}  {100 * t['fraction_differing']:>12.3f}%"
        )
    return "\n".join(lines)
