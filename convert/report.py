"""The conversion report: convert_report.json and the table printed on the terminal."""

from __future__ import annotations

from edgecnn.convert.edgetpu import OpVerdict
from edgecnn.tflite_model import TensorInfo, TfliteModel


def one_or_list(values) -> object:
    """A per-tensor value as a number, per-channel values as a list, none as None."""
    values = [v.item() for v in values]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def tensor_summary(t: TensorInfo) -> dict:
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.type_name,
        "scale": one_or_list(t.scale),
        "zero_point": one_or_list(t.zero_point),
    }


def edgetpu_summary(verdicts: list[OpVerdict]) -> dict:
    on_tpu = sum(v.on_tpu for v in verdicts)
    return {
        "compatible": on_tpu == len(verdicts),
        "ops_on_tpu": on_tpu,
        "ops_total": len(verdicts),
        "ops": [
            {"index": v.index, "op": v.op, "on_tpu": v.on_tpu, "note": v.reason} for v in verdicts
        ],
    }


def build_report(
    graph: TfliteModel,
    *,
    source: str,
    output: str,
    float_bytes: int,
    int8_bytes: int,
    float_accuracy: float,
    int8_accuracy: float,
    test_samples: int,
    calibration_samples: int,
    macs: int,
    verdicts: list[OpVerdict],
    extra: dict,
) -> dict:
    inp = graph.input_details()[0]
    activations = extra.get("activations", "int8")
    input_cost = (
        "none: camera pixels 0..255 go in as they are (scale 1/255, zero point 0 equals the "
        "model's pixel/255), and the QUANTIZE op at the input costs one uint8->int8 shift"
        if inp.type_name == "uint8"
        else f"the caller quantises inputs to {inp.type_name} with the scale and zero point above"
    )
    return {
        "source": source,
        "output": output,
        "float_tflite_bytes": float_bytes,
        "int8_tflite_bytes": int8_bytes,
        "size_ratio": round(int8_bytes / float_bytes, 4) if float_bytes else None,
        "ops": graph.op_counts(),
        "op_sequence": [op.name for op in graph.operators],
        "input": tensor_summary(inp),
        "output_tensor": tensor_summary(graph.output_details()[0]),
        "input_type_cost": input_cost,
        "macs_per_inference": macs,
        "float_accuracy": round(float_accuracy, 4),
        "int8_accuracy": round(int8_accuracy, 4),
        "quantization": QUANTIZATION_NAMES[activations],
        "accuracy_drop_points": round(100 * (float_accuracy - int8_accuracy), 2),
        "test_samples": test_samples,
        "calibration_samples": calibration_samples,
        "edgetpu": edgetpu_summary(verdicts),
        **extra,
    }


QUANTIZATION_NAMES = {
    "int8": "full int8 (int8 activations and weights)",
    "int16": "16x8 (int16 activations, int8 weights)",
}


def tensor_line(t: dict) -> str:
    if t["scale"] is None:
        return f"{t['dtype']} {t['shape']} (not quantised)"
    return f"{t['dtype']} {t['shape']} scale {t['scale']:.6g} zero point {t['zero_point']}"


def format_report(report: dict) -> str:
    """A readable table of the report's main figures."""
    inp, out = report["input"], report["output_tensor"]
    ops = ", ".join(f"{name} x{n}" for name, n in report["ops"].items())
    tpu = report["edgetpu"]
    mode = "16x8" if report.get("activations") == "int16" else "int8"
    rows = [
        ("model", f"{report['source']} -> {report['output']}"),
        ("quantization", report.get("quantization", QUANTIZATION_NAMES["int8"])),
        (
            "size",
            f"float {report['float_tflite_bytes'] / 1024:.1f} KiB -> {mode} "
            f"{report['int8_tflite_bytes'] / 1024:.1f} KiB ({100 * report['size_ratio']:.0f}%)",
        ),
        ("ops", ops),
        (
            "input",
            tensor_line(inp),
        ),
        (
            "output",
            tensor_line(out),
        ),
        ("MACs", f"{report['macs_per_inference']:,} per inference"),
        (
            "accuracy",
            f"float {100 * report['float_accuracy']:.2f}%  {mode} "
            f"{100 * report['int8_accuracy']:.2f}%  ({drop_words(report['accuracy_drop_points'])}, "
            f"{report['test_samples']} test images)",
        ),
        (
            "calibration",
            f"{report['calibration_samples']} training images ({report.get('data', 'Fashion-MNIST')}), "
            "stratified by class",
        ),
        (
            "Edge TPU",
            f"{tpu['ops_on_tpu']}/{tpu['ops_total']} ops mappable"
            + (
                ""
                if tpu["compatible"]
                else ": "
                + "; ".join(
                    f"{o['op']}#{o['index']} {o['note']}" for o in tpu["ops"] if not o["on_tpu"]
                )[:300]
            ),
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def drop_words(drop_points: float) -> str:
    """The int8 model's accuracy beside the float one's, in words (a signed "drop +0.13"
    reads both ways)."""
    if drop_points == 0:
        return "same as float"
    side = "below" if drop_points > 0 else "above"
    return f"{abs(drop_points):.2f} points {side} float"
