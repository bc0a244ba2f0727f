"""The NumPy backend live, one frame at a time, against LiteRT's XNNPACK; and its memory.

Targets (issue 19), on the `default` preset's int8 model, batch 1, one thread each:
- the NumPy backend's inference p50 <= 10x LiteRT XNNPACK's p50. Both run the device's
  path, `Runtime.classify` of `load_runtime(bundle, backend)` (set_tensor, invoke, scores
  dequantised; the NumPy backend is `edgecnn.reference.tflite_api` over
  `ReferenceInterpreter.run` of the batch-1 frame). Frames alternate between the two, so a
  busy machine slows both alike; the ratio is of medians in one run (wall time, and beside
  it the thread's CPU time, which other processes disturb less).
- resident memory grows <= 10 MB over 20,000 NumPy frames (measured after a warm-up, in a
  phase of their own, from /proc/self/statm).

    .venv/bin/python -m bench.reference_live
    BENCH_MODEL=out/tiny/model.tflite .venv/bin/python -m bench.reference_live
"""

from __future__ import annotations

import gc
import os
import sys
import time

from bench.common import one_blas_thread

one_blas_thread()  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

LATENCY_FRAMES = 5000
MEMORY_FRAMES = 20_000
WARM_UP = 200
TARGETS = {"p50_ratio_max": 10.0, "rss_growth_mb_max": 10.0}


def frame_seconds(runtime, frame: np.ndarray) -> tuple[float, float, np.ndarray]:
    """One frame through the device's `Runtime.classify` (set_tensor, invoke, the first
    output's scores dequantised): wall seconds, this thread's CPU seconds, the scores."""
    wall, cpu = time.perf_counter(), time.thread_time()
    scores = runtime.classify(frame)
    return time.perf_counter() - wall, time.thread_time() - cpu, scores


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    from bench.common import bench_model, blas_threads, load_average, test_images, write_result
    from edgecnn.bundle import open_bundle
    from edgecnn.device.benchmark import percentiles
    from edgecnn.device.inference.runtime import load_runtime

    load_before = load_average()
    _, model = bench_model()
    bundle = open_bundle(model)
    images, _ = test_images(bundle)
    frames = [images[i : i + 1] for i in range(len(images))]
    ours = load_runtime(bundle, backend="reference")
    theirs = load_runtime(bundle, backend="litert", threads=1)
    for i in range(WARM_UP):
        frame_seconds(ours, frames[i])
        frame_seconds(theirs, frames[i])
    numpy_s, xnnpack_s, numpy_cpu, xnnpack_cpu, same_label = [], [], [], [], 0
    for i in range(LATENCY_FRAMES):
        frame = frames[i % len(frames)]
        wall, cpu, scores_xnnpack = frame_seconds(theirs, frame)
        xnnpack_s.append(wall)
        xnnpack_cpu.append(cpu)
        label_xnnpack = int(scores_xnnpack.argmax())
        wall, cpu, scores_numpy = frame_seconds(ours, frame)
        numpy_s.append(wall)
        numpy_cpu.append(cpu)
        same_label += int(scores_numpy.argmax() == label_xnnpack)
    gc.collect()
    rss_start = rss_mb()
    rss_curve = []
    for i in range(MEMORY_FRAMES):
        frame_seconds(ours, frames[i % len(frames)])
        if (i + 1) % 2000 == 0:
            gc.collect()
            rss_curve.append(round(rss_mb(), 2))
    growth = rss_curve[-1] - rss_start
    numpy_ms = percentiles(np.array(numpy_s) * 1e3)
    xnnpack_ms = percentiles(np.array(xnnpack_s) * 1e3)
    ratio = numpy_ms["p50"] / xnnpack_ms["p50"]
    result = {
        "model": str(bundle.path),
        "path": "device Runtime.classify: set_tensor, invoke, scores dequantised",
        "backends": [ours.backend, theirs.backend],
        "frames_timed": LATENCY_FRAMES,
        "numpy_ms": numpy_ms,
        "xnnpack_ms": xnnpack_ms,
        "p50_ratio_numpy_over_xnnpack": round(ratio, 2),
        "cpu_ms_p50": {
            "numpy": round(1e3 * float(np.median(numpy_cpu)), 4),
            "xnnpack": round(1e3 * float(np.median(xnnpack_cpu)), 4),
        },
        "p50_ratio_cpu": round(float(np.median(numpy_cpu) / np.median(xnnpack_cpu)), 2),
        "top1_agreement": round(same_label / LATENCY_FRAMES, 4),
        "memory_frames": MEMORY_FRAMES,
        "rss_mb_start": round(rss_start, 2),
        "rss_mb_every_2000_frames": rss_curve,
        "rss_growth_mb": round(growth, 2),
        "targets": TARGETS,
        "meets_targets": {
            "p50_ratio": ratio <= TARGETS["p50_ratio_max"],
            "rss_growth": growth <= TARGETS["rss_growth_mb_max"],
        },
        "threads": blas_threads(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    print(write_result("reference_live", result))
    print(
        f"reference_live: NumPy p50 {numpy_ms['p50']:.3f} ms vs XNNPACK {xnnpack_ms['p50']:.3f} "
        f"ms (ratio {ratio:.1f}); RSS {growth:+.1f} MB over {MEMORY_FRAMES:,} frames; load "
        f"{result['load_average_after'][0]}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
