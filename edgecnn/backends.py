"""The one place interpreters are made: a model's bytes -> an interpreter on a backend.

Backends, in the order `auto` tries them:

- `litert`: ai-edge-litert, the maintained TFLite runtime (NumPy 2; 64-bit only);
- `tflite-runtime`: the legacy runtime, built against NumPy 1: refused under NumPy 2, where
  it crashes, before it is imported;
- `tensorflow`: tf.lite, a workstation fallback (imported only when chosen or fallen back to);
- `reference`: the NumPy reference interpreter (`edgecnn.reference`), which needs nothing
  but NumPy; `auto` falls back to it, saying so in one line, when no TFLite package imports.

Every backend's interpreter has the small interface `Interpreter` (TFLite's own), so the
device's `Runtime`, verify and the converter's accuracy run any of them. `Backend.open`
takes the kernels ("optimized": the runtime's default, XNNPACK; "reference": TFLite's
reference kernels, BUILTIN_REF, the ground truth of int8 arithmetic), the thread count,
delegates (`Backend.edgetpu_delegate()`: the Coral Edge TPU) and `keep_all_tensors` (every
intermediate tensor readable after invoke, for verify). A TFLite runtime's optimized kernels
come through `edgecnn.fault_injection.perturbed`, the test hook that plants a wrong runtime.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from edgecnn.console import warn
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.native_output import quiet_native_output

if TYPE_CHECKING:  # kept out of the import: the CLI reads BACKEND_CHOICES for --help
    import numpy as np

    from edgecnn.bundle import ModelFile


class Interpreter(Protocol):
    """What every backend's interpreter offers (TFLite's Interpreter methods)."""

    def get_input_details(self) -> list[dict]: ...

    def get_output_details(self) -> list[dict]: ...

    def tensor(self, tensor_index: int) -> Callable[[], np.ndarray]:
        """A function returning a view of the tensor's memory (no copy)."""
        ...

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None: ...

    def get_tensor(self, tensor_index: int) -> np.ndarray:
        """A copy of the tensor."""
        ...

    def invoke(self) -> None: ...


@dataclass(frozen=True)
class TflitePackage:
    name: str  # the --backend name
    module: str  # the module holding Interpreter and load_delegate (tensorflow: under .lite)
    package: str  # what find_spec looks for
    missing: str  # the message when it is not installed


TFLITE_PACKAGES = (
    TflitePackage(
        "litert",
        "ai_edge_litert.interpreter",
        "ai_edge_litert",
        "ai-edge-litert is not installed: pip install ai-edge-litert (wheels for Linux "
        "x86-64/aarch64, macOS arm64; 64-bit Raspberry Pi OS)",
    ),
    TflitePackage(
        "tflite-runtime",
        "tflite_runtime.interpreter",
        "tflite_runtime",
        "tflite-runtime is not installed: prefer --backend litert (pip install "
        "ai-edge-litert); tflite-runtime needs Python <= 3.11 and numpy<2",
    ),
    TflitePackage(
        "tensorflow",
        "tensorflow",
        "tensorflow",
        "TensorFlow is not installed: use --backend litert (pip install ai-edge-litert) on "
        "a device",
    ),
)
REFERENCE = "reference"
BACKEND_NAMES = (*(p.name for p in TFLITE_PACKAGES), REFERENCE)
BACKEND_CHOICES = ("auto", *BACKEND_NAMES)  # what --backend accepts
KERNELS = ("optimized", "reference")
# What an interpreter's C++ raises through pybind11 for a model it cannot load or run
# (std::out_of_range is an IndexError: LiteRT's allocate_tensors on an absent input).
INTERPRETER_ERRORS = (RuntimeError, ValueError, IndexError, OverflowError, MemoryError)


@dataclass(frozen=True)
class Backend:
    """A backend ready to open models: its name and, for TFLite's, the classes imported."""

    name: str
    interpreter_class: Any = None  # TFLite's Interpreter; None for the NumPy reference
    load_delegate: Any = None
    op_resolver_type: Any = None

    @property
    def is_reference(self) -> bool:
        return self.name == REFERENCE

    def open(
        self,
        model: ModelFile,
        kernels: str = "optimized",
        threads: int | None = None,
        delegates: Sequence[Any] = (),
        keep_all_tensors: bool = False,
    ) -> Interpreter:
        """An interpreter for `model`, tensors allocated, the runtime's notices kept quiet."""
        if kernels not in KERNELS:
            raise ValueError(f"kernels must be one of {KERNELS}, not {kernels!r}")
        if self.is_reference:
            if delegates:
                raise EdgeCnnError("the reference backend takes no delegate")
            from edgecnn.reference.tflite_api import ReferenceTfliteInterpreter

            # The reference is TFLite's reference kernels, bit for bit: both `kernels` agree.
            return ReferenceTfliteInterpreter(model.graph, keep_all_tensors=keep_all_tensors)
        options: dict[str, Any] = {}
        if kernels == "reference":
            options["experimental_op_resolver_type"] = self.op_resolver_type.BUILTIN_REF
        try:
            with quiet_native_output(), warnings.catch_warnings():
                # "preserve_all_tensors is for debugging": so is verify.
                warnings.simplefilter("ignore", UserWarning)
                interpreter = self.interpreter_class(
                    model_content=model.content,
                    num_threads=threads,
                    experimental_delegates=list(delegates) or None,
                    experimental_preserve_all_tensors=keep_all_tensors,
                    **options,
                )
                interpreter.allocate_tensors()
        except INTERPRETER_ERRORS as exc:
            raise EdgeCnnError(
                f"cannot load {model.source} ({first_line(exc)}): re-run edgecnn convert"
            ) from None
        if kernels == "optimized":  # the documented test hook (EDGECNN_PERTURB_RUNTIME)
            from edgecnn.fault_injection import perturbed

            return perturbed(interpreter)
        return interpreter

    def edgetpu_delegate(self) -> Any:
        """The Edge TPU delegate for `open(delegates=[...])`, or EdgeCnnError with the likely
        cause and fix."""
        if self.is_reference:
            raise EdgeCnnError(
                "Edge TPU: the reference backend runs on the CPU only; the Edge TPU needs "
                "--backend litert (pip install ai-edge-litert)"
            )
        from edgecnn.edgetpu import load_edgetpu_delegate

        return load_edgetpu_delegate(self.load_delegate)


def import_backend(name: str) -> Backend:
    """One backend, imported; EdgeCnnError saying how to get it when it is not here."""
    if name == REFERENCE:
        return Backend(REFERENCE)
    package = next((p for p in TFLITE_PACKAGES if p.name == name), None)
    if package is None:
        raise EdgeCnnError(f"unknown backend {name!r}: choose {', '.join(BACKEND_CHOICES)}")
    if importlib.util.find_spec(package.package) is None:
        raise EdgeCnnError(f"backend {name}: {package.missing}")
    import numpy as np

    if name == "tflite-runtime" and int(np.__version__.split(".")[0]) >= 2:
        raise EdgeCnnError(
            f"backend tflite-runtime: it is built against NumPy 1 and crashes under NumPy "
            f"{np.__version__}: pip install 'numpy<2', or use --backend litert "
            "(pip install ai-edge-litert)"
        )
    try:
        with quiet_native_output():
            module = importlib.import_module(package.module)
    except (ImportError, OSError) as exc:
        raise EdgeCnnError(
            f"backend {name}: it is installed but does not import ({first_line(exc)}): reinstall it"
        ) from None
    if name == "tensorflow":
        lite = module.lite
        return Backend(
            name,
            lite.Interpreter,
            lite.experimental.load_delegate,
            lite.experimental.OpResolverType,
        )
    return Backend(name, module.Interpreter, module.load_delegate, module.OpResolverType)


NO_RUNTIME = (
    "no TFLite runtime is installed: pip install ai-edge-litert (64-bit), or --backend "
    "reference where none is built (32-bit Raspberry Pi OS 13; on Pi OS 12: tflite-runtime "
    "with numpy<2)"
)


def choose_backend(name: str = "auto", reference_fallback: bool = True) -> Backend:
    """The backend asked for, or for "auto" the first TFLite runtime that imports, else (with
    `reference_fallback`) the NumPy reference, said in one line."""
    if name != "auto":
        return import_backend(name)
    reasons = []
    for package in TFLITE_PACKAGES:
        try:
            backend = import_backend(package.name)
        except EdgeCnnError as exc:
            reasons.append((package, str(exc).split(": ", 1)[1]))
            continue
        if backend.name == "tensorflow":
            warn("using TensorFlow's interpreter (a workstation fallback): on a device install "
                 "ai-edge-litert")  # fmt: skip
        return backend
    if not reference_fallback:
        raise EdgeCnnError(f"{NO_RUNTIME} — {'; '.join(reason for _, reason in reasons)}")
    # Only the runtimes that are here but would not import are worth a word.
    broken = [reason for p, reason in reasons if importlib.util.find_spec(p.package) is not None]
    warn(
        "no TFLite runtime imports here"
        + (f" ({'; '.join(broken)})" if broken else "")
        + ": running the NumPy reference interpreter (--backend reference), which is slower; "
        "pip install ai-edge-litert on 64-bit systems"
    )
    return Backend(REFERENCE)
