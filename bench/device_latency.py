"""Device loop latency: per-stage p50/p90/p99 on 640x480 frames, and invoke() beside it.

Targets (issue 5), on this machine with the `default` int8 model: the median per-frame
preprocess + inference + postprocess <= 1.0 ms, and our inference stage <= 1.2x the bare
invoke(). The model is the best int8 model at hand (see `pick_model`); the result names it.

    .venv/bin/python -m bench.device_latency
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "device_latency.json"
FALLBACK_DIR = ROOT / "out" / "bench-device"
CANDIDATES = [
    ("default", ROOT / "out" / "default" / "model.tflite"),
    ("demo (tiny preset)", ROOT / "out" / "demo" / "model.tflite"),
    ("tiny", ROOT / "out" / "tiny" / "model.tflite"),
    ("tiny (made by this bench)", FALLBACK_DIR / "model.tflite"),
]
FRAMES = 3000
TARGETS = {"compute_p50_ms_max": 1.0, "inference_over_invoke_max": 1.2}


def pick_model() -> tuple[str, Path]:
    """The best int8 model available: out/default (bench.train_default + convert), else the
    demo's or a tiny one; when there is none, train the tiny preset and convert it here.
    $EDGECNN_BENCH_MODEL names another .tflite to measure."""
    if os.environ.get("EDGECNN_BENCH_MODEL"):
        return "$EDGECNN_BENCH_MODEL", Path(os.environ["EDGECNN_BENCH_MODEL"])
    for name, path in CANDIDATES:
        if path.is_file():
            return name, path
    from edgecnn.train.command import TrainOptions, run_train

    print("device bench: no converted model in out/; training the tiny preset", file=sys.stderr)
    run_train(TrainOptions(preset="tiny", out=FALLBACK_DIR, progress=False))
    from edgecnn.convert.command import ConvertOptions, run_convert

    target = FALLBACK_DIR / "model.tflite"
    run_convert(ConvertOptions(FALLBACK_DIR / "model.keras", out=target))
    return CANDIDATES[-1][0], target


def main() -> int:
    from edgecnn.device.benchmark import format_report, run_benchmark

    name, model = pick_model()
    result = run_benchmark(model, frames=FRAMES, edgetpu="off")
    result["model_name"] = name
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    result["targets"] = TARGETS
    result["met"] = {
        "compute_p50": result["compute_ms"]["p50"] <= TARGETS["compute_p50_ms_max"],
        "inference_over_invoke": result["inference_over_invoke"]
        <= TARGETS["inference_over_invoke_max"],
        "inference_over_invoke_in_loop": result["inference_over_invoke_in_loop"]
        <= TARGETS["inference_over_invoke_max"],
    }
    print(format_report(result), file=sys.stderr)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
