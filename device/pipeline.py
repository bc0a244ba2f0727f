"""The classification pipeline, built in one place from one options record:

    open_bundle(--model)  ->  open_runtime: load_runtime(--backend, --kernels, --threads,
                              --edgetpu), then the self-check (--no-self-check skips it)
                          ->  Preprocessor(--roi, --invert)  ->  Postprocessor(--top-k, ...)

`edgecnn run`, `edgecnn bench` and the bench scripts build their pipeline here and hand its
parts to `loop.run_loop`. `open_runtime` is also how a replacement model gets its runtime
(hot reload): checked the same way before anything runs on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgecnn.backends import REFERENCE
from edgecnn.bundle import ModelBundle, open_bundle
from edgecnn.console import warn
from edgecnn.device.inference.postprocess import ModelId, Postprocessor
from edgecnn.device.inference.preprocess import Preprocessor, keep_opencv_on_one_thread
from edgecnn.device.inference.runtime import Runtime, check_runtime, load_runtime
from edgecnn.device.inference.stable import DEFAULT_STABLE_FRAMES
from edgecnn.golden import SKIPPED, SelfCheck


@dataclass(frozen=True)
class PipelineOptions:
    """How a model is opened and run on frames; the fields are named like the CLI's options
    (--model, --backend, --kernels, --threads, --edgetpu, --labels, --roi, --invert,
    --top-k, --threshold, --smooth, --stable, --verify-hash, --self-check)."""

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
    stable: int = DEFAULT_STABLE_FRAMES
    verify_hash: bool = True
    self_check: bool = True


@dataclass(frozen=True)
class Pipeline:
    """The pieces the frame loop drives, the model they were made for, and what the
    runtime's self-check found (None: --no-self-check)."""

    bundle: ModelBundle
    runtime: Runtime
    preprocessor: Preprocessor
    postprocessor: Postprocessor
    self_check: SelfCheck | None = None

    def describe(self) -> dict:
        """The model as the page shows it: its id, labels and file, and where it runs."""
        model = self.postprocessor.model
        where = self.runtime.backend + (" + Edge TPU" if self.runtime.on_edgetpu else "")
        checked = self.self_check.as_json() if self.self_check is not None else None
        return {**(model.as_json() if model is not None else {}), "backend": where,
                "self_check": checked}  # fmt: skip


def open_runtime(bundle: ModelBundle, options: PipelineOptions) -> tuple[Runtime, SelfCheck | None]:
    """The bundle's model on the runtime the options ask for, passed through the start-up
    self-check: a runtime that computes the bundle's golden vectors wrong (or, without them,
    disagrees with the NumPy reference on random inputs) is refused with a one-line
    EdgeCnnError that says what to run instead. With --no-self-check it is not checked
    (the check is then None). A check with nothing to check against is said in one line,
    except on the reference backend, which is the ground truth itself."""
    runtime = load_runtime(
        bundle, options.backend, options.threads, options.edgetpu, options.kernels
    )
    if not options.self_check:
        return runtime, None
    check = check_runtime(runtime, bundle)
    check.raise_if_refused()
    if check.status == SKIPPED and runtime.backend != REFERENCE:
        warn(f"self-check skipped: {check.reason}")
    return runtime, check


def build_pipeline(options: PipelineOptions) -> Pipeline:
    """Open the model once and build every piece for it (before any camera is opened)."""
    bundle = open_bundle(options.model, options.verify_hash, options.labels_path)
    runtime, check = open_runtime(bundle, options)
    keep_opencv_on_one_thread()
    model = ModelId(runtime.model.sha256, bundle.labels, str(runtime.model_path))
    postprocessor = Postprocessor(
        list(bundle.labels), options.top_k, options.threshold, options.smooth, options.stable, model
    )
    preprocessor = Preprocessor(runtime.input_spec, bundle.sidecar, options.roi, options.invert)
    return Pipeline(bundle, runtime, preprocessor, postprocessor, check)
