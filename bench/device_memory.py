"""Device loop memory: 20,000 frames from a looping source, RSS must not grow > 10 MB.

The full live path runs: a looping 640x480 video file (decoded by FFmpeg each pass),
preprocess, inference, postprocess, annotation (for an MJPEG server with no viewers) and
JSON lines (to /dev/null). RSS (psutil) is sampled every 250 frames; growth is the highest
RSS after the warm-up minus the RSS at the end of the warm-up.

    .venv/bin/python -m bench.device_memory
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import bench_model, write_result

FRAMES = 20_000
WARMUP = 2_000
SAMPLE_EVERY = 250
GROWTH_MAX_MB = 10.0


def main() -> int:
    import psutil

    from edgecnn.demo.synthvideo import make_video
    from edgecnn.device.loop import run_loop
    from edgecnn.device.outputs.mjpeg import MjpegServer
    from edgecnn.device.outputs.presenters import JsonLinesPresenter
    from edgecnn.device.pipeline import PipelineOptions, build_pipeline
    from edgecnn.device.sources.frames import open_source

    name, model = bench_model()
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "loop.mp4"
        make_video(video, "dark-on-light", items=20, frames_per_item=3, seed=4)
        pipeline = build_pipeline(PipelineOptions(model, edgetpu="off"))
        devnull = open(os.devnull, "w")  # noqa: SIM115
        presenters = [JsonLinesPresenter(devnull), MjpegServer("127.0.0.1", 0)]
        samples: list[tuple[int, float]] = []
        started = time.perf_counter()
        with open_source(str(video), loop=True) as source:
            done = 0
            while done < FRAMES:
                stats = run_loop(source, pipeline.preprocessor, pipeline.runtime,
                                 pipeline.postprocessor, presenters, max_frames=SAMPLE_EVERY,
                                 keep_latencies=False)  # fmt: skip
                done += stats.frames
                samples.append((done, process.memory_info().rss / 2**20))
        seconds = time.perf_counter() - started
        for presenter in presenters:
            presenter.close()
        devnull.close()
    at_warmup = next(rss for frame, rss in samples if frame >= WARMUP)
    after = [rss for frame, rss in samples if frame > WARMUP]
    growth = max(after) - at_warmup
    result = {
        "model": str(model),
        "model_name": name,
        "frames": samples[-1][0],
        "seconds": round(seconds, 1),
        "fps": round(samples[-1][0] / seconds, 1),
        "rss_mb_at_warmup": round(at_warmup, 2),
        "rss_mb_max_after_warmup": round(max(after), 2),
        "rss_mb_end": round(samples[-1][1], 2),
        "growth_mb": round(growth, 2),
        "growth_max_mb": GROWTH_MAX_MB,
        "meets_targets": {"growth": growth <= GROWTH_MAX_MB},
        "rss_mb_samples": [[f, round(r, 2)] for f, r in samples],
    }
    write_result("device_memory", result)
    summary = {k: v for k, v in result.items() if k != "rss_mb_samples"}
    print(json.dumps(summary))
    return 0 if all(result["meets_targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
