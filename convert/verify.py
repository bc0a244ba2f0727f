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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.atomic import atomic_path, atomic_write_text
from edgecnn.backends import choose_backend
from edgecnn.bundle import ModelBundle, open_bundle
from edgecnn.convert.user_inputs import load_user_inputs
from edgecnn.convert.user_inputs import save_outputs as save_outputs_npz
from edgecnn.errors import EdgeCnnError
from edgecnn.metrics import confusion_matrix, per_class_accuracy
from edgecnn.native_output import quiet_native_output
from edgecnn.quantization import pixels_to_model_input
from edgecnn.reference.interpreter import ReferenceInterpreter

CHUNK = 64
DEFAULT_RANDOM_SAMPLES = 1000
# Float tensors: |NumPy - TFLite| <= FLOAT_RTOL * max(1, max |TFLite value|) per tensor. The
# reference kernels accumulate in float32 in their own order; NumPy sums in float64.
FLOAT_RTOL = 1e-4


@dataclass
class TensorDiff:
    """Running comparison of one tensor between two engines."""

    name: str
    op: str
    is_float: bool = False
    max_abs_diff: float = 0
    max_abs_value: float = 0
    differing: int = 0
    elements: int = 0

    def update(self, ours: np.ndarray, theirs: np.ndarray) -> None:
        theirs64 = theirs.astype(np.float64)
        diff = np.abs(ours.astype(np.float64) - theirs64)
        self.max_abs_diff = max(self.max_abs_diff, float(diff.max()) if diff.size else 0.0)
        if theirs64.size:
            self.max_abs_value = max(self.max_abs_value, float(np.abs(theirs64).max()))
        self.differing += int(np.count_nonzero(diff))
        self.elements += diff.size

    @property
    def tolerance(self) -> float:
        return FLOAT_RTOL * max(1.0, self.max_abs_value) if self.is_float else 0.0

    @property
    def matches(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def summary(self) -> dict:
        summary = {
            "name": self.name,
            "op": self.op,
            "max_abs_diff": self.max_abs_diff,
            "fraction_differing": self.differing / self.elements if self.elements else 0.0,
        }
        if self.is_float:
            summary["float_tolerance"] = self.tolerance
        return summary


@dataclass
class Comparison:
    reference_kernels: dict[int, TensorDiff] = field(default_factory=dict)
    optimized_kernels: dict[int, TensorDiff] = field(default_factory=dict)


NOT_IN_XNNPACK = {"SOFTMAX", "AVERAGE_POOL_2D", "LOGISTIC", "MEAN"}
TYPE_CHANGES = {"QUANTIZE", "DEQUANTIZE", "CAST"}


def model_kind(ri: ReferenceInterpreter) -> str:
    """'float', 'int8', '16x8' (int16 activations) or 'mixed', from the compute ops' outputs."""
    kinds = set()
    for op in ri.operators:
        if op.name in TYPE_CHANGES or not op.outputs:
            continue
        type_name = ri.tensors[op.outputs[0]].type_name
        kinds.add(
            {"float32": "float", "int16": "16x8", "int8": "int8", "uint8": "int8"}.get(type_name)
        )
    kinds.discard(None)
    if len(kinds) == 1:
        return kinds.pop()
    return "mixed" if kinds else "int8"


def optimized_visible(ri: ReferenceInterpreter) -> list[int]:
    """Tensors the optimized interpreter writes where we can read them: graph outputs and the
    inputs of ops XNNPACK leaves to the builtin kernels (its partitions keep the rest inside)."""
    visible = set(ri.output_indices)
    for op in ri.operators:
        if op.name in NOT_IN_XNNPACK:
            visible.update(i for i in op.inputs if i >= 0 and not ri.tensors[i].is_constant)
    return sorted(visible)


def refuse_reference_kernel_aborts(ri: ReferenceInterpreter) -> None:
    """Graphs on which TFLite's reference kernels abort the process (a failed TFLITE_CHECK,
    no message): an int8 SOFTMAX whose beta * input scale * 2^26 is not above 1 (its
    PreprocessSoftmaxScaling needs a multiplier > 1) - logits calibrated to a ~zero range."""
    for op in ri.operators:
        if op.name != "SOFTMAX":
            continue
        t_in = ri.tensors[op.inputs[0]]
        beta = float(op.options.get("beta", 1.0))
        if t_in.type_name in ("int8", "uint8") and beta * t_in.quantization[0] * 2.0**26 <= 1:
            raise EdgeCnnError(
                f"SOFTMAX (operator {op.index}) input scale {t_in.quantization[0]:.3g} is too "
                "small for TFLite's reference kernel, which aborts on it (beta * scale * 2^26 "
                "must exceed 1): the logits were calibrated to a near-zero range; recalibrate "
                "with representative inputs"
            )


def load_interpreters(bundle: ModelBundle):
    """TFLite's reference kernels and its default optimized kernels, every tensor kept."""
    try:
        backend = choose_backend("auto", reference_fallback=False)
    except EdgeCnnError as exc:
        raise EdgeCnnError(f"verify compares with TFLite's own kernels: {exc}") from None
    reference = backend.open(bundle.file, kernels="reference", keep_all_tensors=True)
    optimized = backend.open(bundle.file, threads=1, keep_all_tensors=True)
    return reference, optimized


def dataset_inputs(
    ri: ReferenceInterpreter, bundle: ModelBundle, data_dir, limit
) -> tuple[list[np.ndarray], np.ndarray]:
    """Test images as the model's input (pixels through its input range, then quantised)."""
    details = ri.input_details()
    t = details[0]
    if len(details) != 1 or t.shape[1:] != (28, 28, 1):
        shapes = ", ".join(str(list(d.shape)) for d in details)
        raise EdgeCnnError(
            f"{bundle.path} takes {shapes}, not Fashion-MNIST's [1, 28, 28, 1]: use --inputs "
            "random or --inputs FILE.npz"
        )
    test, _ = test_data(bundle.path, data_dir, limit, bundle.num_classes)
    return [pixels_to_model_input(test.images, bundle.input_range, t)], test.labels


def test_data(model: Path, data_dir, limit, classes: int):
    """The model's test images (its own, through the train_report.json beside it, or
    Fashion-MNIST's) and where they came from; refused when they are not its classes."""
    from edgecnn.convert.model_data import model_test_data

    test, where = model_test_data(model, data_dir, limit)
    if len(test.class_names) != classes:
        raise EdgeCnnError(
            f"{model} has {classes} classes, not the {len(test.class_names)} of {where}: keep "
            "it beside the train_report.json of its training (its own test images), or "
            "give --inputs random"
        )
    return test, where


def random_inputs(ri: ReferenceInterpreter, samples: int, seed: int = 0) -> list[np.ndarray]:
    """Every input filled with values valid for its type: the whole range of an integer type
    (raw quantised values), uniform [-1, 1) for floats, 0/1 for bool."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in ri.input_details():
        shape = (samples, *t.shape[1:])
        if t.dtype is None:
            raise EdgeCnnError(f"input {t.name} is {t.type_name}: verify cannot make values for it")
        if np.issubdtype(t.dtype, np.floating):
            arrays.append(rng.uniform(-1, 1, shape).astype(t.dtype))
        elif t.dtype == np.bool_:
            arrays.append(rng.integers(0, 2, shape).astype(np.bool_))
        else:
            info = np.iinfo(t.dtype)
            arrays.append(rng.integers(info.min, info.max, shape, endpoint=True).astype(t.dtype))
    return arrays


def compare_engines(
    ri: ReferenceInterpreter, bundle: ModelBundle, inputs: list[np.ndarray]
) -> tuple[Comparison, dict[str, list[np.ndarray]]]:
    """Run all three engines on `inputs` (one array per model input); return per-tensor
    comparisons and each engine's outputs (one array per model output)."""
    refuse_reference_kernel_aborts(ri)
    reference, optimized = load_interpreters(bundle)
    ref_in = [d["index"] for d in reference.get_input_details()]
    opt_in = [d["index"] for d in optimized.get_input_details()]
    producer = {o: op.name for op in ri.operators for o in op.outputs}

    def diff(i: int) -> TensorDiff:
        return TensorDiff(ri.tensors[i].name, producer[i], ri.tensors[i].type_name == "float32")

    comparison = Comparison(
        {i: diff(i) for i in producer},
        {i: diff(i) for i in optimized_visible(ri) if i in producer},
    )
    outputs: dict[str, list[list[np.ndarray]]] = {
        k: [[] for _ in ri.output_indices]
        for k in ("numpy", "reference_kernels", "optimized_kernels")
    }
    samples = len(inputs[0]) if inputs else 0
    for start in range(0, samples, CHUNK):
        batch = [x[start : start + CHUNK] for x in inputs]
        ours, tensors = ri.run(*batch, keep_tensors=True)
        for k, out in enumerate(ours):
            outputs["numpy"][k].append(out)
        for b in range(len(batch[0]) if batch else 0):
            for engine, indices, name, diffs in (
                (reference, ref_in, "reference_kernels", comparison.reference_kernels),
                (optimized, opt_in, "optimized_kernels", comparison.optimized_kernels),
            ):
                for index, x in zip(indices, batch, strict=True):
                    engine.set_tensor(index, x[b : b + 1])
                engine.invoke()
                for index, tensor_diff in diffs.items():
                    tensor_diff.update(tensors[index][b : b + 1], engine.get_tensor(index))
                for k, index in enumerate(ri.output_indices):
                    outputs[name][k].append(engine.get_tensor(index).copy())
    return comparison, {
        k: [np.concatenate(parts) for parts in v] for k, v in outputs.items() if samples
    }


def float_accuracy(
    keras_model: Path, input_range: tuple[float, float], data_dir, limit
) -> tuple[float, np.ndarray]:
    """Accuracy of the float Keras model on the same test images (pixels through the int8
    model's input range: the one it was converted with)."""
    from edgecnn.train.keras_file import load_keras_model

    model = load_keras_model(keras_model)
    test, _ = test_data(keras_model, data_dir, limit, int(model.output_shape[-1]))
    x = pixels_to_model_input(test.images, input_range)
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
    save_outputs: Path | None = None,
    verify_hash: bool = True,
) -> dict:
    if save_outputs is not None and Path(save_outputs).suffix.lower() != ".npz":
        raise EdgeCnnError(f"--save-outputs {save_outputs}: the file must end in .npz")
    bundle = open_bundle(model, verify_hash)
    result, failures = verify_model(
        bundle, keras_model, data_dir, limit, inputs, samples, max_drop, report_dir, fc_rounding,
        save_outputs,
    )  # fmt: skip
    print(json.dumps(result) if as_json else format_result(result), flush=True)
    if failures:
        print(f"edgecnn: verify failed: {'; '.join(failures)}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    return result


def verify_model(
    bundle: ModelBundle, keras_model, data_dir, limit, inputs, samples, max_drop, report_dir,
    fc_rounding, save_outputs=None,
):  # fmt: skip
    """Run the comparison; return the result and the list of failed checks."""
    model = bundle.path
    ri = ReferenceInterpreter(bundle.graph, fc_rounding=fc_rounding)
    if inputs == "dataset":
        x, labels = dataset_inputs(ri, bundle, data_dir, limit)
    elif inputs == "random":
        x, labels = random_inputs(ri, samples or DEFAULT_RANDOM_SAMPLES), None
    else:
        x, labels = load_user_inputs(Path(inputs), ri.input_details()), None
    comparison, outputs = compare_engines(ri, bundle, x)
    if save_outputs is not None:
        save_outputs_npz(Path(save_outputs), outputs["numpy"])

    def argmax(out: np.ndarray) -> np.ndarray:
        return out.reshape(len(out), -1).argmax(axis=1)

    ours, optimized = argmax(outputs["numpy"][0]), argmax(outputs["optimized_kernels"][0])
    ref_diffs = list(comparison.reference_kernels.values())
    ref_tensors = [d.summary() for d in ref_diffs]
    opt_tensors = [d.summary() for d in comparison.optimized_kernels.values()]
    integer_diffs = [d.max_abs_diff for d in ref_diffs if not d.is_float]
    max_ref = max((t["max_abs_diff"] for t in ref_tensors), default=0.0)
    max_opt = max((t["max_abs_diff"] for t in opt_tensors), default=0.0)
    kind = model_kind(ri)
    float_tensors = [d for d in ref_diffs if d.is_float]
    result = {
        "model": str(model),
        "model_kind": kind,
        "inputs": inputs if inputs in ("dataset", "random") else str(inputs),
        "samples": len(x[0]),
        "fc_rounding": ri.fc_rounding,
        "float_accuracy": None,
        "int8_accuracy": float(np.mean(optimized == labels)) if labels is not None else None,
        "reference_accuracy": float(np.mean(ours == labels)) if labels is not None else None,
        "agreement": float(np.mean(ours == optimized)),
        "bit_exact": max(integer_diffs) == 0 if integer_diffs else None,
        "float_tolerance": (
            f"|NumPy - TFLite| <= {FLOAT_RTOL:g} * max(1, max |value|) per float tensor"
            if float_tensors
            else None
        ),
        "within_float_tolerance": all(d.matches for d in float_tensors) if float_tensors else None,
        "max_abs_diff_reference_kernels": max_ref,
        "max_abs_diff_optimized_kernels": max_opt,
        "tensors": {"reference_kernels": ref_tensors, "optimized_kernels": opt_tensors},
        "optimized_kernels_note": (
            "XNNPACK keeps the tensors inside its partitions to itself: compared are the graph "
            "outputs and the inputs of ops it leaves to the builtin kernels (e.g. SOFTMAX)"
        ),
    }
    names = list(bundle.labels)
    if labels is not None:
        matrix = confusion_matrix(labels, optimized, len(names))
        result["per_class_accuracy"] = {
            name: accuracy
            for name, accuracy in per_class_accuracy(matrix, names).items()
            if accuracy is not None
        }
    if keras_model is not None and labels is not None:
        result["float_accuracy"], _ = float_accuracy(
            Path(keras_model), bundle.input_range, data_dir, limit
        )
        from edgecnn.convert.layer_errors import layer_errors

        with quiet_native_output(capture_stdout=True):
            result["layer_errors"] = layer_errors(Path(keras_model), x[0], ri)
    failures = []
    if result["bit_exact"] is False:
        failures.append(
            "NumPy reference differs from TFLite's reference kernels by up to "
            f"{max(integer_diffs):g}"
        )
    if result["within_float_tolerance"] is False:
        worst = max(float_tensors, key=lambda d: d.max_abs_diff / max(d.tolerance, 1e-30))
        failures.append(
            f"float tensor {worst.name} ({worst.op}) differs from TFLite's reference kernels by "
            f"{worst.max_abs_diff:.3g}, beyond the float tolerance {worst.tolerance:.3g}"
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

    source = {"dataset": "test images", "random": "random inputs"}.get(
        r["inputs"], f"inputs from {r['inputs']}"
    )
    kind = {"float": "float model", "16x8": "16x8 model (int16 activations, int8 weights)",
            "int8": "int8 model", "mixed": "mixed float/integer model"}[r["model_kind"]]  # fmt: skip
    exact = (
        f"  bit-exact vs TFLite reference kernels: {'yes' if r['bit_exact'] else 'NO'}"
        f" (max |diff| {r['max_abs_diff_reference_kernels']:g} over {len(r['tensors']['reference_kernels'])} tensors)"
        if r["bit_exact"] is not None
        else "  bit-exact vs TFLite reference kernels: n/a (no integer tensors)"
    )
    if r["float_tolerance"]:
        exact += (
            f"\n  float tensors within tolerance: {'yes' if r['within_float_tolerance'] else 'NO'}"
            f" ({r['float_tolerance']})"
        )
    lines = [
        f"verify {r['model']} ({kind}) on {r['samples']} {source}",
        f"  float accuracy        {pct(r['float_accuracy'])}",
        f"  int8 accuracy         {pct(r['int8_accuracy'])}  (TFLite optimized kernels)",
        f"  reference accuracy    {pct(r['reference_accuracy'])}  (NumPy reference)",
        f"  argmax agreement      {pct(r['agreement'])}",
        exact,
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
