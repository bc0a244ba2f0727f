"""`edgecnn convert`: a float model -> fully-int8 model.tflite, model.json and a report.

Nothing is written until the int8 graph has passed its checks (int8 builtins only unless
--allow-float, fixed batch of 1); every file is written under a temporary name and renamed.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from edgecnn.atomic import atomic_write_bytes, atomic_write_text
from edgecnn.console import echo
from edgecnn.convert.edgetpu import INSTALL_HINT, compile_for_edgetpu, edgetpu_verdicts
from edgecnn.convert.graph_checks import batch_problems, float_ops, total_macs
from edgecnn.convert.report import build_report, format_report
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import model_labels
from edgecnn.output_path import check_output_file
from edgecnn.sidecar import ModelSidecar, file_sha256, sha256_hex, sidecar_path_for
from edgecnn.tflite_model import read_model

DEFAULT_CALIBRATION_SAMPLES = 500
ACTIVATIONS = ("int8", "int16")  # int16: TFLite's 16x8 mode
INPUT_TYPES = ("uint8", "int8", "int16")
OUTPUT_TYPES = ("int8", "uint8", "int16", "float32")


@dataclass(frozen=True)
class ConvertOptions:
    """What `edgecnn convert` is asked for; None takes the default (see `run_convert`)."""

    model: Path
    out: Path | None = None
    calibration_samples: int | None = None
    input_type: str | None = None
    output_type: str | None = None
    activations: str = "int8"
    data_dir: Path | None = None
    edgetpu: bool = False
    allow_float: bool = False
    eval_samples: int | None = None


def default_output(model: Path) -> Path:
    return model / "model.tflite" if model.is_dir() else model.with_name("model.tflite")


def io_types(
    activations: str, input_type: str | None, output_type: str | None, edgetpu: bool
) -> tuple[str, str]:
    """The input and output types for the activation width, with one-line refusals."""
    if activations == "int8":
        if "int16" in (input_type, output_type):
            raise EdgeCnnError("int16 input or output is for --activations int16 (16x8 models)")
        return input_type or "uint8", output_type or "int8"
    if edgetpu:
        raise EdgeCnnError(
            "--activations int16 cannot run on the Edge TPU (int8 only): drop --edgetpu"
        )
    if input_type not in (None, "int16"):
        raise EdgeCnnError(
            f"--input-type {input_type} is for int8 models: with --activations int16 the input "
            "is int16 (model.json's input range quantises pixels into it)"
        )
    if output_type not in (None, "int16", "float32"):
        raise EdgeCnnError(
            f"--output-type {output_type} is for int8 models: with --activations int16 the "
            "output is int16 or float32"
        )
    return "int16", output_type or "int16"


def run_convert(options: ConvertOptions) -> dict:
    """Convert `options.model` and return the report (also written as convert_report.json).

    `activations="int16"` makes TFLite's 16x8 model (int16 activations, int8 weights):
    int16 input and output unless --output-type float32."""
    from edgecnn.convert import quantize
    from edgecnn.convert.evaluate import tflite_accuracy
    from edgecnn.convert.model_data import model_data

    model = Path(options.model)
    out = Path(options.out) if options.out is not None else default_output(model)
    if out.suffix != ".tflite":
        raise EdgeCnnError(f"--out {out}: the output must be a .tflite file")
    check_output_file(out, "--out")
    edgetpu, allow_float, activations = options.edgetpu, options.allow_float, options.activations
    input_type, output_type = io_types(
        activations, options.input_type, options.output_type, edgetpu
    )
    samples = options.calibration_samples or DEFAULT_CALIBRATION_SAMPLES
    start = time.perf_counter()

    loaded = quantize.load_float_model(model)
    data = model_data(model, options.data_dir, options.eval_samples)
    calibration = quantize.calibration_images(loaded, samples, train=data.train)
    test = data.test
    echo(
        f"convert: quantising {model} with {len(calibration)} calibration images "
        f"({data.description})"
    )
    int8_model = quantize.convert_int8(
        loaded,
        calibration,
        input_type,
        output_type,
        per_tensor_dense=edgetpu,
        allow_float=allow_float,
        activations=activations,
    )
    graph = read_model(int8_model)
    leftover = float_ops(graph)
    if leftover and not allow_float:
        raise EdgeCnnError(
            f"the converted graph still has float ops: {', '.join(leftover)}; "
            "replace those layers, or pass --allow-float to accept them"
        )
    problems = batch_problems(graph)
    if problems:
        raise EdgeCnnError(f"the converted graph is not fixed at batch 1: {'; '.join(problems)}")

    float_model = quantize.convert_float(loaded)
    x_test = quantize.to_model_images(test.images, loaded.input_shape)
    echo(f"convert: measuring float and int8 accuracy on {len(test)} test images")
    float_accuracy = tflite_accuracy(float_model, x_test, test.labels)
    int8_accuracy = tflite_accuracy(int8_model, x_test, test.labels)
    extra: dict = {"float_ops_allowed": leftover, "seconds": None, "activations": activations}
    if model.is_file():  # which float model this came from (verify finds it beside by it)
        extra["source_sha256"] = file_sha256(model)
    if edgetpu:
        per_channel = quantize.convert_int8(loaded, calibration, input_type, output_type)
        extra["edgetpu_per_tensor_fc"] = {
            "int8_accuracy_per_channel_fc": round(
                tflite_accuracy(per_channel, x_test, test.labels), 4
            ),
            "int8_accuracy_per_tensor_fc": round(int8_accuracy, 4),
        }

    h, w, c = loaded.input_shape
    sidecar = ModelSidecar(
        labels=model_labels(model, loaded.num_classes),
        input_height=h,
        input_width=w,
        channels=c,
        tflite_sha256=sha256_hex(int8_model),
    )
    sidecar = dataclasses.replace(
        sidecar, golden=golden_vectors(graph, test, int8_model, sidecar.input_range)
    )
    report = build_report(
        graph,
        source=str(model),
        output=str(out),
        float_bytes=len(float_model),
        int8_bytes=len(int8_model),
        float_accuracy=float_accuracy,
        int8_accuracy=int8_accuracy,
        test_samples=len(test),
        calibration_samples=len(calibration),
        macs=total_macs(graph),
        verdicts=edgetpu_verdicts(graph),
        extra={**extra, "data": data.description},
    )
    report["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_bytes(out, int8_model)
    sidecar.write(sidecar_path_for(out))
    atomic_write_text(out.with_name("convert_report.json"), json.dumps(report, indent=2) + "\n")
    print(format_report(report), flush=True)
    if edgetpu:
        try:
            compiled, mapped, total = compile_for_edgetpu(out)
        except EdgeCnnError as exc:
            raise EdgeCnnError(f"wrote the CPU model {out}, but {exc}") from None
        sidecar = replace(sidecar, edgetpu_tflite_sha256=file_sha256(compiled))
        sidecar.write(sidecar_path_for(out))
        report["edgetpu"]["compiled"] = {
            "model": str(compiled),
            "ops_on_tpu": mapped,
            "ops_total": total,
        }
        atomic_write_text(out.with_name("convert_report.json"), json.dumps(report, indent=2) + "\n")
        print(f"Edge TPU: {mapped}/{total} ops mapped -> {compiled}")
    return report


def golden_vectors(graph, test, int8_model: bytes, input_range: tuple[float, float]) -> dict | None:
    """A few test images as the model takes them and the NumPy reference's outputs (TFLite's
    reference kernels' for an op the NumPy reference lacks, such as a float op kept by
    --allow-float), for the device's start-up self-check (edgecnn.golden), tied to the
    model's hash. None when neither can run the model."""
    from edgecnn.backends import choose_backend
    from edgecnn.bundle import ModelFile
    from edgecnn.golden import (
        TFLITE_REFERENCE_ENGINE,
        golden_record,
        make_golden,
        pick_golden,
        reference_gap,
    )
    from edgecnn.quantization import pixels_to_model_input

    chosen = pick_golden(test.images, test.labels)
    x = pixels_to_model_input(test.images[chosen], input_range, graph.input_details()[0])
    try:
        return golden_record(make_golden(graph, [x]), sha256_hex(int8_model))
    except EdgeCnnError as exc:
        numpy_cannot = exc
    try:
        kernels = choose_backend("auto", reference_fallback=False).open(
            ModelFile.from_bytes(int8_model), kernels="reference"
        )
        golden = make_golden(graph, [x], interpreter=kernels)
    except EdgeCnnError:
        echo(f"convert: no golden vectors for the device's self-check: "
             f"{reference_gap(graph, numpy_cannot)}, nor TFLite's reference kernels")  # fmt: skip
        return None
    return golden_record(golden, sha256_hex(int8_model), TFLITE_REFERENCE_ENGINE)


__all__ = ["INSTALL_HINT", "run_convert"]
