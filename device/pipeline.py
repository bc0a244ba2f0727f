"""The classification pipeline, built in one place from one options record:

    open_bundle(--model)  ->  load_runtime(--backend, --kernels, --threads, --edgetpu)
                          ->  Preprocessor(--roi, --invert)  ->  Postprocessor(--top-k, ...)

`edgecnn run`, `edgecnn bench` and the bench scripts build their pipeline here and hand its
parts to `loop.run_loop`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgecnn.bundle import ModelBundle, open_bundle
from edgecnn.device.inference.postprocess import Postprocessor
from edgecnn.device.inference.preprocess import Preprocessor, keep_opencv_on_one_thread
from edgecnn.device.inference.runtime import Runtime, load_runtime


@dataclass(frozen=True)
class PipelineOptions:
    """How a model is opened and run on frames; the fields are named like the CLI's options
    (--model, --backend, --kernels, --threads, --edgetpu, --labels, --roi, --invert,
    --top-k, --threshold, --smooth, --verify-hash)."""

    model: Path
    backend: str = "auto"
    kernels: str = "optimized"
    threads: int | None = None
    edgetpu: str = "auto"
    labels_path: Path | None = None
    roi: str | None = None
    invert: str = "auto"
    top_k: int = 3
    threshold: float = 0.5
    smooth: float = 0.0
    verify_hash: bool = True


@dataclass(frozen=True)
class Pipeline:
    """The pieces the frame loop drives, and the model they were made for."""

    bundle: ModelBundle
    runtime: Runtime
    preprocessor: Preprocessor
    postprocessor: Postprocessor


def build_pipeline(options: PipelineOptions) -> Pipeline:
    """Open the model once and build every piece for it (before any camera is opened)."""
    bundle = open_bundle(options.model, options.verify_hash, options.labels_path)
    runtime = load_runtime(
        bundle, options.backend, options.threads, options.edgetpu, options.kernels
    )
    keep_opencv_on_one_thread()
    return Pipeline(
        bundle,
        runtime,
        Preprocessor(runtime.input_spec, bundle.sidecar, options.roi, options.invert),
        Postprocessor(list(bundle.labels), options.top_k, options.threshold, options.smooth),
    )
