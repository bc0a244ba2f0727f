"""Model hot reload under a running loop: how long a swap takes and how many frames it loses.

The loop classifies a looped 640x480 video played at 30 FPS, its own pace for a viewer
(`--pace 30 --loop`), as `edgecnn run --model DIR/model.tflite` does, while the model in
DIR is replaced SWAPS times, as rsync replaces files (each under a temporary name, then
renamed). The replacements alternate between the model and the same .tflite with relabelled
classes in its model.json, so each reload opens, hashes and checks the whole model. Per swap:

- `load_ms`: opening and checking the new model, on the reloader's thread beside the loop;
- `swap_us`: the loop's own part of the swap (taking the new pieces between two frames);
- the longest gap between two frames around the swap, against the median gap;
- frames lost: frames the paced source skipped because the loop was late (target: 0).

    .venv/bin/python -m bench.model_reload
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.common import bench_model, load_average, write_result

SWAPS = 10
SECONDS_BETWEEN = 3.0
FPS = 30.0
TARGETS = {"frames_lost_max": 0}


def deploy(source: Path, folder: Path) -> None:
    """model.tflite and model.json of `source`'s folder into `folder`, renamed into place."""
    for name in ("model.tflite", "model.json"):
        shutil.copyfile(source.with_name(name), folder / f".{name}.part")
        os.replace(folder / f".{name}.part", folder / name)


def relabelled(model: Path, folder: Path) -> Path:
    """The same model, its classes renamed in model.json: another model to the reloader."""
    from edgecnn.sidecar import ModelSidecar

    folder.mkdir()
    shutil.copyfile(model, folder / "model.tflite")
    sidecar = ModelSidecar.read(model.with_name("model.json"))
    ModelSidecar(**{**sidecar.__dict__, "labels": [f"{n} v2" for n in sidecar.labels]}).write(
        folder / "model.json"
    )
    return folder / "model.tflite"


def main() -> int:
    from edgecnn.demo.synthvideo import make_video
    from edgecnn.device.loop import run_loop
    from edgecnn.device.outputs.frame_result import Presenter
    from edgecnn.device.pipeline import PipelineOptions, build_pipeline
    from edgecnn.device.reload import ModelReloader
    from edgecnn.device.sources.frames import open_source
    from edgecnn.device.sources.pacing import PacedSource

    name, model = bench_model()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        other = relabelled(model, tmp / "other")
        live = tmp / "live"
        live.mkdir()
        deploy(model, live)
        video = tmp / "items.mp4"
        make_video(video, "light-on-dark", items=30, frames_per_item=3, seed=5)
        options = PipelineOptions(live / "model.tflite", edgetpu="off")
        pipeline = build_pipeline(options)

        times: list[float] = []
        models: list[tuple] = []

        class Clock(Presenter):
            def present(self, result) -> None:
                times.append(time.perf_counter())
                models.append((result.prediction.model.sha256, result.prediction.model.labels))

        stop = threading.Event()
        source = PacedSource(open_source(str(video), loop=True), FPS)
        swaps = []
        with ModelReloader(options, pipeline) as reloader:
            loop = threading.Thread(
                target=run_loop,
                args=(source, pipeline.preprocessor, pipeline.runtime, pipeline.postprocessor,
                      [Clock()]),
                kwargs={"stop": stop, "keep_latencies": False, "swaps": reloader.take},
            )  # fmt: skip
            loop.start()
            time.sleep(SECONDS_BETWEEN)
            for i in range(SWAPS):
                deploy(other if i % 2 == 0 else model, live)
                skipped_before = source.skipped
                deadline = time.monotonic() + 30
                while reloader.status.reloads < i + 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                if reloader.status.reloads < i + 1:
                    print(f"model_reload: swap {i + 1} did not happen", file=sys.stderr)
                    break
                time.sleep(SECONDS_BETWEEN - 0.5)
                swaps.append({
                    "load_ms": reloader.status.load_ms,
                    "swap_us": reloader.status.swap_us,
                    "frames_lost": source.skipped - skipped_before,
                })  # fmt: skip
            stop.set()
            loop.join(30)
            source.close()
            refused = reloader.status.refused

    gaps_ms = 1000 * np.diff(times)
    changes = [k for k in range(1, len(models)) if models[k] != models[k - 1]]
    for swap, k in zip(swaps, changes, strict=False):
        swap["gap_around_ms"] = round(float(gaps_ms[max(0, k - 3) : k + 3].max()), 1)
    median_gap = float(np.median(gaps_ms))
    lost = sum(s["frames_lost"] for s in swaps)
    result = {
        "model": str(model),
        "model_name": name,
        "video": f"640x480 light-on-dark items, looped at {FPS:g} FPS",
        "swaps": len(swaps),
        "refused": refused,
        "frames": len(times),
        "frames_lost": lost,
        "frames_lost_outside_swaps": source.skipped - lost,
        "load_ms": summary([s["load_ms"] for s in swaps]),
        "swap_us": summary([s["swap_us"] for s in swaps]),
        "median_frame_gap_ms": round(median_gap, 1),
        "max_frame_gap_around_swaps_ms": max((s.get("gap_around_ms", 0) for s in swaps), default=0),
        "max_frame_gap_ms": round(float(gaps_ms.max()), 1),
        "per_swap": swaps,
        "load_average": load_average(),
        "targets": TARGETS,
    }
    result["meets_targets"] = {
        "frames_lost": lost <= TARGETS["frames_lost_max"] and len(swaps) == SWAPS,
    }
    write_result("model_reload", result)
    print(
        f"model_reload: {len(swaps)} swaps of {name}: load and check p50 "
        f"{result['load_ms']['p50']} ms beside the loop, the loop's part p50 "
        f"{result['swap_us']['p50']} us; {lost} frames lost; longest frame gap around a swap "
        f"{result['max_frame_gap_around_swaps_ms']} ms (median gap {median_gap:.1f} ms)",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


def summary(values: list[float]) -> dict:
    if not values:
        return {}
    return {
        "p50": round(float(np.median(values)), 2),
        "max": round(float(np.max(values)), 2),
        "min": round(float(np.min(values)), 2),
    }


if __name__ == "__main__":
    sys.exit(main())
