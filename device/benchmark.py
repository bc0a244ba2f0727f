"""`edgecnn bench`: per-stage latency of the live loop, and the bare invoke() beside it.

The loop is the one `edgecnn run` uses (no presenters), fed from a looping source: the
given `--source`, or 640x480 frames rendered in memory (Fashion-MNIST test items when the
data set is installed, drawn shapes otherwise), so capture costs next to nothing and the
other stages are what is measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgecnn.demo.synthvideo import bench_frames
from edgecnn.device.emulation import emulator, timing_notice
from edgecnn.device.inference.preprocess import Preprocessor
from edgecnn.device.inference.runtime import Runtime
from edgecnn.device.loop import STAGES, run_loop
from edgecnn.device.pipeline import PipelineOptions, build_pipeline
from edgecnn.device.sources.frames import ArraySource, FrameSource, open_source

WARMUP_FRAMES = 30
PERCENTILES = (50, 90, 99)


def percentiles(values: list[float] | np.ndarray) -> dict[str, float]:
    data = np.asarray(values, np.float64)
    out = {f"p{p}": round(float(np.percentile(data, p)), 4) for p in PERCENTILES}
    out["mean"] = round(float(data.mean()), 4)
    return out


def bare_invoke_ms(runtime: Runtime, count: int) -> list[float]:
    """invoke() alone, timed call by call, back to back, on the same interpreter (its input
    tensor holds the last frame's input)."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        runtime.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def invoke_in_loop_ms(
    runtime: Runtime, preprocessor: Preprocessor, source: FrameSource, count: int
) -> list[float]:
    """invoke() alone, timed inside a loop that preprocesses a frame before each call.

    The same work between calls as in the live loop leaves the caches as cold as there, so
    this isolates what our inference stage adds around invoke() (reading and dequantising
    the output).
    """
    times = []
    for _ in range(count):
        frame = source.read()
        if frame is None:
            break
        preprocessor.process(frame, source.colour_order, out=runtime.input_tensor())
        start = time.perf_counter()
        runtime.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def bench_source(source: str | None) -> tuple[FrameSource, str]:
    if source is None:
        frames, description = bench_frames()
        return ArraySource(frames, loop=True), description
    opened = open_source(source, loop=True)
    return opened, opened.description or str(source)


@dataclass(frozen=True)
class BenchOptions(PipelineOptions):
    """`edgecnn bench`'s options (named like the CLI's): the pipeline's (the Edge TPU as
    run would use it), the frames to measure and their source (None: frames made in memory)."""

    source: str | None = None
    frames: int = 500
    as_json: bool = False


def run_benchmark(options: BenchOptions) -> dict:
    """Measure the loop over `options.frames` frames (after a warm-up); return the figures."""
    frames = options.frames
    pipeline = build_pipeline(options)
    runtime, preprocessor, postprocessor = (
        pipeline.runtime, pipeline.preprocessor, pipeline.postprocessor
    )  # fmt: skip
    frame_source, description = bench_source(options.source)
    with frame_source:
        run_loop(frame_source, preprocessor, runtime, postprocessor, max_frames=WARMUP_FRAMES)
        stats = run_loop(frame_source, preprocessor, runtime, postprocessor, max_frames=frames)
        in_loop = invoke_in_loop_ms(runtime, preprocessor, frame_source, max(stats.frames, 1))
    invoke = bare_invoke_ms(runtime, max(stats.frames, 1))
    lat = stats.latency_ms
    compute = np.add(np.add(lat["preprocess"], lat["inference"]), lat["postprocess"])
    stages = {stage: percentiles(lat[stage]) for stage in (*STAGES, "total")}
    emulated = emulator()
    return {
        "model": str(runtime.model_path),
        "backend": runtime.backend,
        "emulated": emulated,
        "notice": timing_notice(emulated) if emulated else None,
        "edgetpu": runtime.on_edgetpu,
        "threads": options.threads,
        "input": f"{runtime.input_spec.dtype.name} {list(runtime.input_spec.shape)}",
        "source": description,
        "frames": stats.frames,
        "fps": round(stats.fps, 1),
        "latency_ms": stages,
        "compute_ms": percentiles(compute),
        "bare_invoke_ms": percentiles(invoke),
        "bare_invoke_in_loop_ms": percentiles(in_loop),
        "inference_over_invoke": round(
            stages["inference"]["p50"] / max(float(np.median(invoke)), 1e-9), 3
        ),
        "inference_over_invoke_in_loop": round(
            stages["inference"]["p50"] / max(float(np.median(in_loop)), 1e-9), 3
        ),
        "self_check": pipeline.self_check.as_json() if pipeline.self_check else None,
    }


def format_report(result: dict) -> str:
    """A small table of the figures for people."""
    lines = [
        f"model    {result['model']} ({result['input']}, {result['backend']}"
        f"{', Edge TPU' if result['edgetpu'] else ''})",
        f"source   {result['source']}, {result['frames']} frames, {result['fps']} FPS",
        f"{'stage':<13}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}",
    ]
    rows = [*result["latency_ms"].items(), ("pre+inf+post", result["compute_ms"])]
    rows.append(("bare invoke", result["bare_invoke_ms"]))
    rows.append(("  in loop", result["bare_invoke_in_loop_ms"]))
    for name, p in rows:
        lines.append(f"{name:<13}{p['p50']:>9.3f}{p['p90']:>9.3f}{p['p99']:>9.3f}")
    lines.append(
        f"inference / bare invoke (p50): {result['inference_over_invoke']:.2f}x "
        f"({result['inference_over_invoke_in_loop']:.2f}x against invoke() timed in the loop)"
    )
    check = result.get("self_check")
    lines.append(
        f"self-check at start-up: {check['status']} in {check['ms']:.1f} ms ({check['checked']})"
        if check
        else "self-check at start-up: off (--no-self-check)"
    )
    if result.get("notice"):  # first, so nobody quotes the figures without it
        lines.insert(0, result["notice"])
    return "\n".join(lines)
