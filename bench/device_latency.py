"""Device loop latency at the frame sizes cameras give, and the recipe against its reference.

In one run, with the `default` int8 model on one thread:

* per-stage p50/p90/p99 of the live loop on generated 640x480, 1280x720 and 1920x1080 frames,
  with the bare invoke() timed right after each size's loop (`edgecnn bench`'s figures), and
  the recipe's own call at each size, before issue 23 (`bench.recipe_v1`) and now;
* targets (issue 23), as ratios to the bare invoke() p50 of the same size: preprocess <= 1.0x
  at 640x480 and <= 2.0x at 1920x1080; preprocess + inference + postprocess <= 2.5x at
  every size; and (issue 5) our inference stage <= 1.2x;
* the generated camera-like videos (`edgecnn.demo.synthvideo`, both styles, ITEMS items x
  2 frames), classified from today's canvases and from the recipe's before issue 23
  (`bench.recipe_v1`): top-1 within 0.3 points of it; the canvases' difference and the
  polarity on them and on a video of your own objects (`edgecnn.demo.objectvideo`).

The model: $BENCH_MODEL, else out/default/model.tflite, made when missing (`bench.common`).

    .venv/bin/python -m bench.device_latency
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.common import bench_model, load_average, write_result

FRAMES = 3000  # per frame size
ITEMS, FRAMES_PER_ITEM = 1500, 2  # per video style: 3,000 frames
OBJECT_INSTANCES = 40  # per class, 2 frames each: 400 frames
TARGETS = {
    "preprocess_over_invoke_max": {"640x480": 1.0, "1920x1080": 2.0},
    "compute_over_invoke_max": 2.5,
    "inference_over_invoke_max": 1.2,
    "top1_change_points_min": -0.3,
}


def log(message: str) -> None:
    print(f"device_latency: {message}", file=sys.stderr, flush=True)


def loop_latency(model: Path) -> dict:
    from edgecnn.device.benchmark import BenchOptions, format_report, run_benchmark

    result = run_benchmark(BenchOptions(model=model, frames=FRAMES, threads=1))
    print(format_report(result), file=sys.stderr, flush=True)
    return result


def recipe_call_ms(sizes: list[str], rounds: int = 40) -> dict:
    """The recipe's own call on the generated frames' centre square, before and now, p50 in
    ms per frame size: the same frames, cycled (so read from memory as a camera's are)."""
    import cv2
    import numpy as np

    from bench.recipe_v1 import FashionCanvas as RecipeV1
    from edgecnn.demo.synthvideo import bench_frames
    from edgecnn.recipe import FashionCanvas

    frames, _ = bench_frames()
    figures = {}
    for name in sizes:
        width, height = (int(v) for v in name.split("x"))
        x = (width - height) // 2
        regions = [cv2.resize(f, (width, height))[:, x : x + height] for f in frames]
        row = {}
        for label, recipe in (("before", RecipeV1()), ("now", FashionCanvas())):
            times = []
            for _ in range(rounds):
                for region in regions:
                    start = time.perf_counter()
                    recipe(region, "BGR")
                    times.append((time.perf_counter() - start) * 1000.0)
            row[label] = round(float(np.median(times)), 4)
        row["speed_up"] = round(row["before"] / row["now"], 2)
        figures[name] = row
        log(f"recipe call at {name}: {row}")
    return figures


def recipe_against_its_reference(model: Path) -> dict:
    """Top-1 and canvases, today's recipe against the one before, on generated videos."""
    from bench.recipe_equivalence import compare, runtime_classifier, video_frames
    from edgecnn.bundle import open_bundle
    from edgecnn.demo.objectvideo import held_out_video
    from edgecnn.demo.synthvideo import STYLES, make_video
    from edgecnn.device.inference.runtime import load_runtime

    bundle = open_bundle(model)
    runtime = load_runtime(bundle, edgetpu="off", threads=1)
    classify = runtime_classifier(runtime, bundle.sidecar.input_range)
    videos = {}
    with tempfile.TemporaryDirectory() as folder:
        for style in STYLES:
            video = Path(folder) / f"{style}.mp4"
            truth = make_video(video, style, ITEMS, FRAMES_PER_ITEM, seed=1)
            videos[style] = compare(video_frames(video), truth, classify)
            log(f"{style}: {videos[style]}")
        video = Path(folder) / "objects.mp4"
        held_out_video(video, instances=OBJECT_INSTANCES, frames_per_instance=2)
        videos["objects"] = compare(video_frames(video))
        log(f"objects: {videos['objects']}")
    return videos


def met(latency: dict, videos: dict) -> dict:
    sizes = {size["frame_size"]: size for size in latency["sizes"]}
    checks = {
        f"preprocess_over_invoke_{name}": sizes[name]["preprocess_over_invoke"] <= limit
        for name, limit in TARGETS["preprocess_over_invoke_max"].items()
        if name in sizes
    }
    for name, size in sizes.items():
        checks[f"compute_over_invoke_{name}"] = (
            size["compute_over_invoke"] <= TARGETS["compute_over_invoke_max"]
        )
        checks[f"inference_over_invoke_{name}"] = (
            size["inference_over_invoke"] <= TARGETS["inference_over_invoke_max"]
        )
    for style, figures in videos.items():
        if "top1_change_points" in figures:
            checks[f"top1_{style}"] = (
                figures["top1_change_points"] >= TARGETS["top1_change_points_min"]
            )
    return checks


def main() -> int:
    started = time.perf_counter()
    name, model = bench_model()
    load_before = load_average()
    latency = loop_latency(model)
    recipe_ms = recipe_call_ms([size["frame_size"] for size in latency["sizes"]])
    load_after_loop = load_average()
    videos = recipe_against_its_reference(model)
    result = {
        **latency,
        "model_name": name,
        "load_average_before": load_before,
        "load_average_after_loop": load_after_loop,
        "recipe_call_ms": recipe_ms,
        "videos": videos,
        "targets": TARGETS,
        "meets_targets": met(latency, videos),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result("device_latency", result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
