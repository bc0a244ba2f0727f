"""`edgecnn verify`: prove a .tflite against TFLite's own kernels and the data set.

The engines (`engines`: the NumPy reference, TFLite's reference kernels, its optimized
kernels and, when asked, TFLite Micro) run the same inputs, a model invocation at a time in
the model's own batch. `agreement` compares every pair, per tensor and on the outputs, and
holds each engine to the contract (`edgecnn.contract`) against the ground truth, TFLite's
reference kernels. `passed` means the whole contract held; otherwise verify exits 1 with
one line naming the engine, the tensor and the difference.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.atomic import atomic_path, atomic_write_text
from edgecnn.bundle import ModelBundle, open_bundle
from edgecnn.contract import FLOAT_RTOL, KERNEL_LSB, MIN_AGREEMENT
from edgecnn.convert.agreement import Agreement
from edgecnn.convert.engines import DEFAULT_ENGINES, VerifyModel, build_engines
from edgecnn.convert.user_inputs import load_user_inputs
from edgecnn.convert.user_inputs import save_outputs as save_outputs_npz
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.golden import random_inputs
from edgecnn.metrics import confusion_matrix, per_class_accuracy
from edgecnn.native_output import debugging, quiet_native_output
from edgecnn.output_path import check_output_file, check_output_folder
from edgecnn.progress import Progress
from edgecnn.quantization import pixels_to_model_input
from edgecnn.reference.interpreter import OperatorFailed, ReferenceInterpreter
from edgecnn.tflite_model import is_keras_model

CHUNK = 64  # invocations per pass
DEFAULT_RANDOM_SAMPLES = 1000


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


def to_invocations(ri: ReferenceInterpreter, rows: list[np.ndarray]) -> list[np.ndarray]:
    """Rows ([N, *input shape without its first axis], one array per input) as invocations
    of the model in its own batch: [n, *input shape]. A model that takes 4 images at once
    gets them 4 at a time; the last invocation is filled up with the first rows again."""
    details = ri.input_details()
    batches = [max(t.shape[0], 1) if t.shape else 1 for t in details]
    n = max((math.ceil(len(x) / b) for x, b in zip(rows, batches, strict=True)), default=0)
    invocations = []
    for x, b, t in zip(rows, batches, details, strict=True):
        need = n * b
        if len(x) != need:
            x = x[np.arange(need) % len(x)]
        invocations.append(x.reshape(n, *t.shape))
    return invocations


def rows_of(outputs: np.ndarray, shape: tuple[int, ...], batch: int, samples: int) -> np.ndarray:
    """Stacked outputs of invocations ([n, *graph shape]) back as rows, one per input sample,
    padding dropped. An output without the model's batch axis first stays one per invocation."""
    if shape[:1] == (batch,):
        outputs = outputs.reshape(-1, *shape[1:])
    return outputs[:samples]


def run_engine(engine, batch: list[np.ndarray], truth):
    """One engine on one chunk; an unexpected failure becomes one line naming the engine and,
    for the NumPy reference, the operator and its tensor (EDGECNN_DEBUG=1: the traceback)."""
    try:
        with quiet_native_output():
            return engine.run(batch, truth)
    except EdgeCnnError:
        raise
    except Exception as exc:
        if debugging():
            raise exc.cause if isinstance(exc, OperatorFailed) else exc  # noqa: B904
        if isinstance(exc, OperatorFailed):
            raise EdgeCnnError(f"the NumPy reference fails at {exc}") from None
        raise EdgeCnnError(
            f"engine {engine.name} ({engine.title}) fails: {type(exc).__name__}: {first_line(exc)}"
        ) from None


def compare_engines(
    ri: ReferenceInterpreter,
    bundle: ModelBundle,
    inputs: list[np.ndarray],
    engines: tuple[str, ...] | list[str] = DEFAULT_ENGINES,
) -> tuple[Agreement, dict[str, list[np.ndarray]]]:
    """Run every engine on `inputs` (rows, one array per model input) in the model's own
    batch; return the comparisons and each engine's outputs as rows (one array per output)."""
    refuse_reference_kernel_aborts(ri)
    samples = len(inputs[0]) if inputs else 0
    if samples == 0:
        raise EdgeCnnError("no inputs to verify: give at least one sample")
    built = build_engines(list(engines), VerifyModel(bundle.file, ri))
    # The ground truth runs first: the engines under test take its tensors as their
    # operators' inputs.
    order = sorted(built, key=lambda e: (e.per_op, e.name != "reference"))
    agreement = Agreement(ri, built)
    truth_name = agreement.truth.name
    invocations = to_invocations(ri, inputs)
    outputs: dict[str, list[list[np.ndarray]]] = {e.name: [] for e in built}
    progress = Progress(samples, f"verify ({', '.join(e.name for e in built)})", unit="inputs")
    try:
        for start in range(0, len(invocations[0]), CHUNK):
            batch = [x[start : start + CHUNK] for x in invocations]
            results = {}
            for engine in order:
                truth = None
                if truth_name in results:  # the graph's inputs and every tensor it made
                    truth = dict(zip(ri.input_indices, batch, strict=True))
                    truth.update(results[truth_name].tensors)
                results[engine.name] = run_engine(engine, batch, truth)
                outputs[engine.name].append(results[engine.name].outputs)
            agreement.add(results)
            rows = len(batch[0]) * invocations[0].shape[1] if invocations[0].ndim > 1 else 1
            progress.update(min(rows, samples - progress.done))
    finally:
        progress.close()
    batch = invocations[0].shape[1] if invocations[0].ndim > 1 else 1
    shapes = [ri.tensors[i].shape for i in ri.output_indices]
    return agreement, {
        name: [
            rows_of(np.concatenate(column), shape, batch, samples)
            for column, shape in zip(zip(*parts, strict=True), shapes, strict=True)
        ]
        for name, parts in outputs.items()
    }


def float_model_beside(model: Path) -> Path | None:
    """The Keras model `model` was converted from, when it lies beside it as convert leaves
    it: named by the convert_report.json beside, the same file (its SHA-256 as convert
    recorded it), and TensorFlow here to run it. None otherwise: --keras gives it."""
    import importlib.util

    from edgecnn.sidecar import file_sha256

    try:
        report = json.loads(model.with_name("convert_report.json").read_text(encoding="utf-8"))
        keras = model.with_name(Path(report["source"]).name)
        found = keras.suffix in (".keras", ".h5") and keras.is_file()
        found = found and file_sha256(keras) == report["source_sha256"]
    except (OSError, ValueError, RecursionError, TypeError, KeyError, AttributeError):
        return None
    return keras if found and importlib.util.find_spec("tensorflow") is not None else None


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


@dataclass(frozen=True)
class VerifyOptions:
    """What `edgecnn verify` is asked for (the CLI's options, one field each)."""

    model: Path
    keras_model: Path | None = None
    data_dir: Path | None = None
    limit: int | None = None
    inputs: str = "dataset"  # "dataset", "random" or a file of raw input values
    samples: int | None = None  # random inputs
    save_outputs: Path | None = None
    max_drop: float = 1.0
    as_json: bool = False
    report_dir: Path | None = None
    verify_hash: bool = True
    engines: str | None = None  # comma-separated; None: DEFAULT_ENGINES
    fc_rounding: str | None = None  # FULLY_CONNECTED's rounding (default: the runtime's)


def parse_engines(engines: str | None) -> tuple[str, ...]:
    if engines is None:
        return DEFAULT_ENGINES
    names = tuple(dict.fromkeys(name.strip() for name in engines.split(",") if name.strip()))
    if "numpy" not in names:
        raise EdgeCnnError(
            f"--engines {engines}: numpy is required (the NumPy reference walks every tensor "
            "and gives the saved outputs); e.g. --engines numpy,reference,optimized,micro"
        )
    return names


def refuse_keras_model(model: Path) -> None:
    """verify proves a converted model against the NumPy reference; the float model it
    came from goes with --keras (it used to be read as a .tflite that had "changed since it
    was converted", inviting --no-verify-hash)."""
    if not is_keras_model(model):
        return
    converted = model.with_suffix(".tflite") if model.is_file() else model / "model.tflite"
    give = converted if converted.is_file() else f"the .tflite that edgecnn convert {model} writes"
    raise EdgeCnnError(
        f"{model} is a Keras model, not a TensorFlow Lite one: verify checks a converted model; "
        f"give {give}, and --keras {model} for its float accuracy"
    )


def no_tflite_runtime() -> str | None:
    """Why no TFLite runtime imports here (its one line), or None when one does."""
    from edgecnn.backends import NO_RUNTIME, choose_backend

    try:
        choose_backend("auto", reference_fallback=False)
    except EdgeCnnError:
        return NO_RUNTIME
    return None


def golden_check(bundle: ModelBundle, ri: ReferenceInterpreter) -> dict | None:
    """The golden vectors convert stored in model.json (TFLite's reference outputs, proven
    on the workstation) through this machine's NumPy engine: the check of the arithmetic
    that is left where no TFLite runtime exists. None for a model without them."""
    from edgecnn.golden import read_golden, reference_outputs

    sidecar = bundle.sidecar
    golden = read_golden(sidecar.golden, sidecar.tflite_sha256, str(bundle.sidecar_path))
    if golden is None:
        return None
    ours = reference_outputs(ri, golden.inputs)
    diffs = [
        float(np.abs(got.reshape(expected.shape).astype(np.float64)
                     - expected.astype(np.float64)).max(initial=0))
        for got, expected in zip(ours, golden.outputs, strict=False)
    ]  # fmt: skip
    return {"count": len(golden.inputs[0]), "max_abs_diff": max(diffs, default=0.0),
            "bit_exact": max(diffs, default=0.0) == 0}  # fmt: skip


def run_verify(options: VerifyOptions) -> dict:
    """Verify the model, print the result (a table, or one JSON object); exit 1 on a failure."""
    names = parse_engines(options.engines)
    if options.samples is not None and options.inputs != "random":
        raise EdgeCnnError(
            f"--samples {options.samples} counts random inputs: give --inputs random too "
            "(of the test images, --limit N takes the first N)"
        )
    missing = None
    if options.engines is None and (missing := no_tflite_runtime()):
        names = ("numpy",)  # a 32-bit Pi OS 13, a Pi Zero: the NumPy engine alone, said so
    save_outputs = options.save_outputs
    if save_outputs is not None and Path(save_outputs).suffix.lower() != ".npz":
        raise EdgeCnnError(f"--save-outputs {save_outputs}: the file must end in .npz")
    if save_outputs is not None:
        check_output_file(save_outputs, "--save-outputs")
    if options.report_dir is not None:
        check_output_folder(options.report_dir, "--report")
    refuse_keras_model(Path(options.model))
    bundle = open_bundle(options.model, options.verify_hash)
    try:
        result, failures = verify_model(bundle, options, names, missing)
    except (EdgeCnnError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        if debugging():
            raise
        raise EdgeCnnError(
            f"verify failed unexpectedly: {type(exc).__name__}: {first_line(exc)} "
            "(EDGECNN_DEBUG=1 shows the traceback)"
        ) from None
    print(json.dumps(result) if options.as_json else format_result(result), flush=True)
    if failures:
        print(f"edgecnn: verify failed: {failures[0]}", file=sys.stderr, flush=True)
        for more in failures[1:]:
            print(f"  and: {more}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    return result


def verify_model(
    bundle: ModelBundle,
    options: VerifyOptions,
    engines: tuple[str, ...] = DEFAULT_ENGINES,
    no_runtime: str | None = None,
) -> tuple[dict, list[str]]:
    """Run the comparison; return the result and the list of failed checks, each one line.
    `no_runtime`: why no TFLite runtime runs here (the engines then are the NumPy one)."""
    keras_model, inputs = options.keras_model, options.inputs
    data_dir, limit, samples = options.data_dir, options.limit, options.samples
    fc_rounding, save_outputs = options.fc_rounding, options.save_outputs
    max_drop, report_dir = options.max_drop, options.report_dir
    model = bundle.path
    ri = ReferenceInterpreter(bundle.graph, fc_rounding=fc_rounding)
    keras_found = keras_model is None and inputs == "dataset"
    if keras_found:
        keras_model = float_model_beside(model)
    if inputs == "dataset":
        x, labels = dataset_inputs(ri, bundle, data_dir, limit)
    elif inputs == "random":
        x, labels = random_inputs(ri.input_details(), samples or DEFAULT_RANDOM_SAMPLES), None
    else:
        x, labels = load_user_inputs(Path(inputs), ri.input_details()), None
    agreement, outputs = compare_engines(ri, bundle, x, engines)
    if save_outputs is not None:
        save_outputs_npz(Path(save_outputs), outputs["numpy"])

    def argmax(out: np.ndarray) -> np.ndarray:
        return out.reshape(len(out), -1).argmax(axis=1)

    device = "optimized" if "optimized" in outputs else agreement.truth.name
    ours, theirs = argmax(outputs["numpy"][0]), argmax(outputs[device][0])
    truth = agreement.truth
    has_reference = truth.name == "reference"
    ref_diffs = list(agreement.tensors.get(("numpy", "reference"), {}).values())
    opt_pair = agreement.pair(truth, next(e for e in agreement.engines if e.name == device))
    opt_diffs = (
        list(agreement.tensors[opt_pair].values()) + agreement.outputs[opt_pair]
        if device != truth.name
        else []
    )
    integer_diffs = [d.max_abs_diff for d in ref_diffs if not d.is_float]
    float_tensors = [d for d in ref_diffs if d.is_float]
    kind = model_kind(ri)
    breaches = agreement.breaches()
    result = {
        "model": str(model),
        "model_kind": kind,
        "inputs": inputs if inputs in ("dataset", "random") else str(inputs),
        "samples": len(x[0]),
        "engines": [e.name for e in agreement.engines],
        "fc_rounding": ri.fc_rounding,
        "float_accuracy": None,
        "float_model": str(keras_model) if keras_model is not None else None,
        "float_model_found_beside": keras_found and keras_model is not None,
        "int8_accuracy": float(np.mean(theirs == labels)) if labels is not None else None,
        "reference_accuracy": float(np.mean(ours == labels)) if labels is not None else None,
        "agreement": float(np.mean(ours == theirs)),
        "bit_exact": (max(integer_diffs) == 0 if integer_diffs else None)
        if has_reference
        else None,
        "float_tolerance": (
            f"|NumPy - TFLite| <= {FLOAT_RTOL:g} * max(1, max |value|) per float tensor"
            if float_tensors
            else None
        ),
        "within_float_tolerance": all(d.max_abs_diff <= d.float_tolerance for d in float_tensors)
        if float_tensors
        else None,
        "max_abs_diff_reference_kernels": max((d.max_abs_diff for d in ref_diffs), default=0.0),
        "max_abs_diff_optimized_kernels": max((d.max_abs_diff for d in opt_diffs), default=0.0),
        "tensors": {
            "reference_kernels": [d.summary() for d in ref_diffs],
            "optimized_kernels": [d.summary() for d in agreement.tensors.get(opt_pair, {}).values()]
            if device != truth.name
            else [],
            "optimized_outputs": [d.summary() for d in agreement.outputs.get(opt_pair, [])]
            if device != truth.name
            else [],
        },
        "contract": {
            "ground_truth": truth.title,
            "numpy": "bit-exact on every tensor (float tensors within "
            f"{FLOAT_RTOL:g} * max(1, max |value|))",
            "kernels": f"each operator of every other engine, fed the same inputs, within "
            f"{KERNEL_LSB} LSB",
            "outputs": f"graph outputs run end to end within {KERNEL_LSB} LSB; SOFTMAX and "
            "LOGISTIC outputs within the allowance derived in edgecnn/contract.py",
            "predictions": f"argmax agreement >= {100 * MIN_AGREEMENT:g}% (near ties agree)",
        },
        "matrix": agreement.matrix(),
        "engine_notes": {e.name: e.notes for e in agreement.engines if e.notes},
        "predictions_agreement": {
            e.name: dict(
                zip(
                    ("agreement", "near_ties", "tie_tolerance"),
                    agreement.agreement(e.name),
                    strict=True,
                )
            )
            for e in agreement.engines
            if e is not truth
        },
        "optimized_kernels_note": (
            "the optimized kernels' tensors are each operator run alone on the reference "
            "kernels' inputs to it; their outputs are the whole model run as edgecnn run does"
        ),
    }
    names = list(bundle.labels)
    if labels is not None:
        matrix = confusion_matrix(labels, theirs, len(names))
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
    failures = [b.line() for b in breaches]
    result["breaches"] = [b.__dict__ for b in breaches]
    if no_runtime:
        result["engines_not_run"] = {"reference": no_runtime, "optimized": no_runtime}
    if "reference" not in engines:  # nothing here to hold NumPy to but what convert stored
        result["golden_vectors"] = golden_check(bundle, ri)
        if result["golden_vectors"] and not result["golden_vectors"]["bit_exact"]:
            failures.append(
                "the NumPy engine differs from the golden vectors convert stored by up to "
                f"{result['golden_vectors']['max_abs_diff']:g}: this NumPy or platform computes "
                "the model otherwise; verify on the workstation and report it"
            )
    if result["float_accuracy"] is not None:
        drop = 100 * (result["float_accuracy"] - result["int8_accuracy"])
        result["accuracy_drop_points"] = round(drop, 3)
        if drop > max_drop:
            failures.append(
                f"int8 accuracy is {drop:.2f} points below float (--max-drop {max_drop})"
            )
    result["passed"] = not failures
    result["failures"] = failures
    if report_dir is not None:
        write_report(Path(report_dir), result, labels, theirs, names)
    return result, failures


def write_report(folder: Path, result: dict, labels, predictions, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if labels is not None:
        matrix = confusion_matrix(labels, predictions, len(names))
        result["confusion_matrix"] = matrix.tolist()
    atomic_write_text(folder / "verify_report.json", json.dumps(result, indent=2) + "\n")
    if labels is not None:
        accuracy = 100 * result["int8_accuracy"]
        write_confusion_png(
            folder / "confusion_matrix.png",
            np.asarray(result["confusion_matrix"]),
            names,
            f"int8 model: {accuracy:.2f}% on {len(labels)} test images",
        )


def format_matrix(matrix: dict) -> list[str]:
    """Which engines agree with which: max |diff| per tensor both expose (each operator
    alone for the runtimes under test), on the outputs end to end, argmax agreement."""
    lines = [f"  agreement matrix (ground truth: {matrix['ground_truth']})",
             f"    {'engines':<22} {'tensors':>8} {'max|d| tensors':>15} {'max|d| outputs':>15} {'argmax':>8}"]  # fmt: skip
    for pair in matrix["pairs"]:
        a, b = pair["engines"]
        tensors = (
            "-" if pair["max_abs_diff_tensors"] is None else f"{pair['max_abs_diff_tensors']:g}"
        )
        lines.append(
            f"    {a + ' ~ ' + b:<22} {pair['tensors_compared']:>8} {tensors:>15} "
            f"{pair['max_abs_diff_outputs']:>15g} {100 * pair['argmax_agreement']:>7.2f}%"
        )
        for cause in pair["known_causes"]:
            lines.append(f"      known cause: {cause}")
    return lines


def float_model_note(r: dict) -> str:
    if r["float_accuracy"] is not None and r.get("float_model_found_beside"):
        return f"  ({Path(r['float_model']).name} beside the model; --keras FILE for another)"
    if r["float_accuracy"] is None and r["inputs"] == "dataset":
        return "  (give --keras MODEL.keras, the float model it was converted from)"
    return ""


def tensor_labels(names: list[str], width: int = 40) -> list[str]:
    """Each tensor's name as one column of `width`: the first of TFLite's fused names
    ("a;b;c"), its middle left out when too long (a path's end names the layer), and a
    number added to any two that would still look the same."""
    labels = []
    for name in names:
        label = name.split(";")[0]
        if len(label) > width:
            head = width // 3
            label = f"{label[:head]}...{label[-(width - head - 3) :]}"
        labels.append(label)
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            suffix = f" #{seen[label]}"
            labels[i] = label[: width - len(suffix)] + suffix
    return labels


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
        else "  bit-exact vs TFLite reference kernels: n/a"
        + (" (no integer tensors)" if "reference" in r["engines"] else " (engine not run)")
    )
    if r["float_tolerance"]:
        exact += (
            f"\n  float tensors within tolerance: {'yes' if r['within_float_tolerance'] else 'NO'}"
            f" ({r['float_tolerance']})"
        )
    one_engine = "optimized" not in r["engines"]
    lines = [
        f"verify {r['model']} ({kind}) on {r['samples']} {source}; engines {', '.join(r['engines'])}",
        f"  float accuracy        {pct(r['float_accuracy'])}{float_model_note(r)}",
        f"  int8 accuracy         {pct(r['int8_accuracy'])}  "
        + ("(the NumPy engine: TFLite's optimized kernels did not run)" if one_engine
           else "(TFLite optimized kernels)"),
        f"  reference accuracy    {pct(r['reference_accuracy'])}  (NumPy reference)",
        "  argmax agreement      "
        + ("n/a (no second engine)" if one_engine else pct(r["agreement"])),
        exact,
    ]  # fmt: skip
    if r.get("engines_not_run"):
        lines.insert(
            1,
            f"  not run: TFLite's reference and optimized kernels: {r['engines_not_run']['reference']}",
        )
    golden = r.get("golden_vectors", False)
    if golden:
        lines.append(
            f"  golden vectors: the NumPy engine gives the {golden['count']} that convert stored "
            f"(TFLite's reference outputs): {'bit for bit' if golden['bit_exact'] else 'NOT bit for bit'}"
            f" (max |diff| {golden['max_abs_diff']:g})"
        )
    elif golden is None:
        lines.append("  golden vectors: none in model.json (an older convert or a foreign model)")
    if r["tensors"]["optimized_kernels"] or r["tensors"]["optimized_outputs"]:
        lines.append(
            "  vs optimized kernels: "
            + ", ".join(
                f"{t['op']} max |diff| {t['max_abs_diff']:g}"
                for t in r["tensors"]["optimized_kernels"]
                if t["max_abs_diff"]
            )
            + ("; " if any(t["max_abs_diff"] for t in r["tensors"]["optimized_kernels"]) else "")
            + "outputs "
            + ", ".join(
                f"{t['op']} max |diff| {t['max_abs_diff']:g}"
                for t in r["tensors"]["optimized_outputs"]
            )
        )
    lines += format_matrix(r["matrix"])
    lines += [f"  {name}: {note}" for name, notes in r["engine_notes"].items() for note in notes]
    lines.append(f"  contract: {'held' if r['passed'] else 'BROKEN'}"
                 + "".join(f"\n    {f}" for f in r["failures"]))  # fmt: skip
    lines.append(
        "  tensor                                   op                 max|d| ref  differing ref"
    )
    tensors = r["tensors"]["reference_kernels"]
    for t, label in zip(tensors, tensor_labels([t["name"] for t in tensors]), strict=True):
        lines.append(
            f"  {label:<40} {t['op']:<18} {t['max_abs_diff']:>10g}  {100 * t['fraction_differing']:>12.3f}%"
        )
    return "\n".join(lines)
