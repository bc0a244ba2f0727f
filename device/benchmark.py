"""`edgecnn bench`: per-stage latency of the live loop, and the bare invoke() beside it.

The loop is the one `edgecnn run` uses (no presenters), fed from a looping source: the
given `--source`, or frames rendered in memory (Fashion-MNIST test items when the data set
is installed, drawn shapes otherwise) at each of the frame sizes cameras give, 640x480,
1280x720 and 1920x1080 (`BENCH_SIZES`), so capture costs next to nothing and the other
stages are what is measured. Every size gets its own figures, with the bare invoke() timed
right after its loop and the ratios of the stages to it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from edgecnn.demo.synthvideo import bench_frames
from edgecnn.device.emulation import emulator, timing_notice
from edgecnn.device.inference.preprocess import Preprocessor
from edgecnn.device.inference.runtime import Runtime
from edgecnn.device.loop import STAGES, run_loop
from edgecnn.device.pipeline import Pipeline, PipelineOptions, build_pipeline
from edgecnn.device.sources.frames import ArraySource, FrameSource, open_source
from edgecnn.errors import EdgeCnnError

WARMUP_FRAMES = 30
PERCENTILES = (50, 90, 99)
BENCH_SIZES = ((640, 480), (1280, 720), (1920, 1080))  # width, height: VGA, 720p, full HD


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


def generated_source(size: tuple[int, int]) -> tuple[FrameSource, str]:
    """The generated frames (made at 640x480) scaled to `size` (width, height), looped."""
    frames, description = bench_frames()
    if frames[0].shape[1::-1] != size:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames]
        description = f"{description}, scaled to {size[0]}x{size[1]}"
    return ArraySource(frames, loop=True), description


def bench_sources(options: BenchOptions) -> Iterator[tuple[FrameSource, str]]:
    """(source, description) for each run: `--source`, or the generated frames at each size."""
    if options.source is not None:
        opened = open_source(options.source, loop=True)
        yield opened, opened.description or str(options.source)
        return
    for size in options.sizes:
        yield generated_source(size)


@dataclass(frozen=True)
class BenchOptions(PipelineOptions):
    """`edgecnn bench`'s options (named like the CLI's): the pipeline's (the Edge TPU as
    run would use it), the frames to measure and their source (None: frames made in memory,
    at each of `sizes`)."""

    source: str | None = None
    frames: int = 500
    as_json: bool = False
    sizes: tuple[tuple[int, int], ...] = BENCH_SIZES


def measure(pipeline: Pipeline, frame_source: FrameSource, description: str, frames: int) -> dict:
    """One size's figures: the loop over `frames` frames (after a warm-up), invoke() in that
    loop, then the bare invoke() as many times, and the ratios of the stages to it."""
    runtime, preprocessor, postprocessor = (
        pipeline.runtime, pipeline.preprocessor, pipeline.postprocessor
    )  # fmt: skip
    first = frame_source.read()
    if first is None:
        raise EdgeCnnError(f"{description} gave no frame to measure")
    run_loop(frame_source, preprocessor, runtime, postprocessor, max_frames=WARMUP_FRAMES)
    stats = run_loop(frame_source, preprocessor, runtime, postprocessor, max_frames=frames)
    in_loop = invoke_in_loop_ms(runtime, preprocessor, frame_source, max(stats.frames, 1))
    invoke = bare_invoke_ms(runtime, max(stats.frames, 1))
    lat = stats.latency_ms
    compute = np.add(np.add(lat["preprocess"], lat["inference"]), lat["postprocess"])
    stages = {stage: percentiles(lat[stage]) for stage in (*STAGES, "total")}
    invoke_p50 = max(float(np.median(invoke)), 1e-9)
    in_loop_p50 = max(float(np.median(in_loop)), 1e-9)
    return {
        "frame_size": f"{first.shape[1]}x{first.shape[0]}",
        "source": description,
        "frames": stats.frames,
        "fps": round(stats.fps, 1),
        "latency_ms": stages,
        "compute_ms": percentiles(compute),
        "bare_invoke_ms": percentiles(invoke),
        "bare_invoke_in_loop_ms": percentiles(in_loop),
        "inference_over_invoke": round(stages["inference"]["p50"] / invoke_p50, 3),
        "inference_over_invoke_in_loop": round(stages["inference"]["p50"] / in_loop_p50, 3),
        "preprocess_over_invoke": round(stages["preprocess"]["p50"] / invoke_p50, 3),
        "compute_over_invoke": round(float(np.median(compute)) / invoke_p50, 3),
    }


def run_benchmark(options: BenchOptions) -> dict:
    """Measure the loop at every size (or on `--source`); return the figures. The top-level
    figures are the first size's (640x480), as before; `sizes` holds every size's."""
    pipeline = build_pipeline(options)
    runtime = pipeline.runtime
    sizes = []
    for frame_source, description in bench_sources(options):
        with frame_source:
            sizes.append(measure(pipeline, frame_source, description, options.frames))
    emulated = emulator()
    return {
        "model": str(runtime.model_path),
        "backend": runtime.backend,
        "emulated": emulated,
        "notice": timing_notice(emulated) if emulated else None,
        "edgetpu": runtime.on_edgetpu,
        "threads": options.threads,
        "input": f"{runtime.input_spec.dtype.name} {list(runtime.input_spec.shape)}",
        **sizes[0],
        "sizes": sizes,
        "self_check": pipeline.self_check.as_json() if pipeline.self_check else None,
    }


def format_report(result: dict) -> str:
    """A small table of the figures for people: a column group per frame size."""
    sizes = result.get("sizes") or [result]
    group = 9 * len(PERCENTILES)
    heads = "".join(
        f"{size['frame_size'] + ', ' + str(size['fps']) + ' FPS':>{group}}" for size in sizes
    )
    columns = "".join(f"{'p' + str(p) + ' ms':>9}" for p in PERCENTILES) * len(sizes)
    lines = [
        f"model    {result['model']} ({result['input']}, {result['backend']}"
        f"{', Edge TPU' if result['edgetpu'] else ''})",
        f"source   {sizes[0]['source']}; {sizes[0]['frames']} frames per size",
        f"{'':<13}{heads}",
        f"{'stage':<13}{columns}",
    ]
    rows = [
        (stage, lambda s, stage=stage: s["latency_ms"][stage]) for stage in sizes[0]["latency_ms"]
    ]
    rows += [
        ("pre+inf+post", lambda s: s["compute_ms"]),
        ("bare invoke", lambda s: s["bare_invoke_ms"]),
        ("  in loop", lambda s: s["bare_invoke_in_loop_ms"]),
    ]
    for name, figures in rows:
        cells = "".join(f"{figures(s)[f'p{p}']:>9.3f}" for s in sizes for p in PERCENTILES)
        lines.append(f"{name:<13}{cells}")
    lines.append("p50 over the bare invoke() p50:")
    for name, key in (
        ("preprocess", "preprocess_over_invoke"),
        ("pre+inf+post", "compute_over_invoke"),
        ("inference", "inference_over_invoke"),
    ):
        lines.append(f"  {name:<11}" + "".join(f"{s[key]:>{group - 1}.2f}x" for s in sizes))
    check = result.get("self_check")
    lines.append(
        f"self-check at start-up: {check['status']} in {check['ms']:.1f} ms ({check['checked']})"
        if check
        else "self-check at start-up: off (--no-self-check)"
    )
    if result.get("notice"):  # first, so nobody quotes the figures without it
        lines.insert(0, result["notice"])
    return "\n".join(lines)
