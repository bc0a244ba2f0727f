"""Speed of the NumPy int8 reference over the 10,000 test images, against TFLite's kernels.

Targets, `default` preset's int8 model, one thread each:
- issue 19: verify's NumPy pass (every tensor kept, in verify's chunks) takes at most 3x
  LiteRT's XNNPACK on the same images, one image per invoke as verify runs it;
- issue 4: the NumPy reference (outputs only) takes no longer than TFLite's reference
  kernels (ratio <= 1.0).
The engines run interleaved, REPEATS times, in one process; medians and the ratios of
medians are reported (wall time, the targets' measure, and the thread's CPU time, which a
busy machine disturbs less), with the NumPy outputs checked equal to the reference kernels'.

    .venv/bin/python -m bench.reference_speed        # out/default/model.tflite (made if missing)
    BENCH_MODEL=out/demo/model.tflite .venv/bin/python -m bench.reference_speed
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.common import one_blas_thread

one_blas_thread()  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

REPEATS = 3
TARGETS = {"verify_pass_over_xnnpack_max": 3.0, "numpy_over_reference_kernels_max": 1.0}


class Clock:
    """Wall seconds and this thread's CPU seconds of a block (every engine here computes on
    the calling thread: the CPU time leaves out what other processes took from it)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.thread_time() - self.cpu


def time_tflite(interpreter, x: np.ndarray) -> tuple[Clock, np.ndarray]:
    """One image per set_tensor/invoke/get_tensor, as verify runs the TFLite engines."""
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    outputs = []
    with Clock() as clock:
        for b in range(len(x)):
            interpreter.set_tensor(index_in, x[b : b + 1])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(index_out))
    return clock, np.concatenate(outputs)


def time_verify_pass(ri, x: np.ndarray) -> Clock:
    """verify's NumPy pass: its chunks, every tensor of the graph kept."""
    from edgecnn.convert.verify import CHUNK

    with Clock() as clock:
        for i in range(0, len(x), CHUNK):
            ri.run(x[i : i + CHUNK], keep_tensors=True)
    return clock


def main() -> int:
    from bench.common import bench_model, blas_threads, load_average, test_images, write_result
    from edgecnn.backends import import_backend
    from edgecnn.bundle import open_bundle
    from edgecnn.reference.interpreter import ReferenceInterpreter

    load_before = load_average()
    _, model = bench_model()
    bundle = open_bundle(model)
    x, labels = test_images(bundle)
    ri = ReferenceInterpreter(bundle.graph)
    litert = import_backend("litert")
    reference = litert.open(bundle.file, kernels="reference")
    optimized = litert.open(bundle.file, threads=1)
    names = ("numpy_verify_pass", "numpy_outputs", "tflite_xnnpack", "tflite_reference_kernels")
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(REPEATS):
        clocks = {"numpy_verify_pass": time_verify_pass(ri, x)}
        with Clock() as clocks["numpy_outputs"]:
            (out,) = ri.run(x)
        clocks["tflite_xnnpack"], _ = time_tflite(optimized, x)
        clocks["tflite_reference_kernels"], reference_out = time_tflite(reference, x)
        for name, clock in clocks.items():
            times[name].append(clock.wall)
            cpu[name].append(clock.cpu)
        print(
            f"repeat {repeat + 1}: "
            + ", ".join(f"{k} {v.wall:.2f}s ({v.cpu:.2f}s CPU)" for k, v in clocks.items()),
            file=sys.stderr,
        )
    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    verify_ratio = medians["numpy_verify_pass"] / medians["tflite_xnnpack"]
    reference_ratio = medians["numpy_outputs"] / medians["tflite_reference_kernels"]
    result = {
        "model": str(model),
        "images": len(x),
        "repeats": REPEATS,
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "median_seconds": {k: round(v, 3) for k, v in medians.items()},
        "microseconds_per_image": {k: round(1e6 * v / len(x), 1) for k, v in medians.items()},
        "cpu_seconds": {k: [round(t, 3) for t in v] for k, v in cpu.items()},
        "cpu_microseconds_per_image": {
            k: round(1e6 * v / len(x), 1) for k, v in cpu_medians.items()
        },
        "ratio_verify_pass_over_xnnpack": round(verify_ratio, 3),
        "ratio_verify_pass_over_xnnpack_cpu": round(
            cpu_medians["numpy_verify_pass"] / cpu_medians["tflite_xnnpack"], 3
        ),
        "ratio_numpy_outputs_over_xnnpack": round(
            medians["numpy_outputs"] / medians["tflite_xnnpack"], 3
        ),
        "ratio_numpy_over_reference_kernels": round(reference_ratio, 3),
        "outputs_equal_reference_kernels": bool(np.array_equal(out, reference_out)),
        "numpy_accuracy": float(np.mean(out.reshape(len(out), -1).argmax(1) == labels)),
        "targets": TARGETS,
        "meets_targets": {
            "verify_pass_over_xnnpack": verify_ratio <= TARGETS["verify_pass_over_xnnpack_max"],
            "numpy_over_reference_kernels": reference_ratio
            <= TARGETS["numpy_over_reference_kernels_max"],
        },
        "threads": blas_threads(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    print(write_result("reference_speed", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
