"""The TFLite runtime on the device: backend choice, the Edge TPU delegate, tensor specs.

Backends in order of preference (SPEC.md): `ai_edge_litert` (maintained, NumPy 2), the
legacy `tflite_runtime` (built against NumPy 1: refused under NumPy 2, where it crashes),
and `tensorflow.lite` (a workstation fallback, imported only when chosen or fallen back to).

`Runtime.classify(model_input)` sets the input, invokes and returns the first output
dequantised to float32, whatever integer type the model uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.util
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.errors import EdgeCnnError

BACKENDS = ("litert", "tflite-runtime", "tensorflow")
EDGETPU_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}
EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"
XNNPACK_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate"
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}  # before and after firmware load
CORAL_APT = (
    "add Coral's apt repository (https://coral.ai/software/#debian-packages) and "
    "'sudo apt install libedgetpu1-std' (or libedgetpu1-max)"
)


def warn(message: str) -> None:
    print(f"edgecnn: warning: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: where it is, its shape and type, how it is quantised."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def is_quantized(self) -> bool:
        return np.issubdtype(self.dtype, np.integer) and self.scale > 0

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[2]

    @property
    def channels(self) -> int:
        return self.shape[3] if len(self.shape) == 4 else 1

    @classmethod
    def from_details(cls, details: dict) -> TensorSpec:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(
            index=int(details["index"]),
            name=str(details.get("name", "")),
            shape=tuple(int(d) for d in details["shape"]),
            dtype=np.dtype(details["dtype"]),
            scale=float(scale),
            zero_point=int(zero_point),
        )


def as_tensor_spec(tensor) -> TensorSpec:
    """A TensorSpec from any tensor description with shape, dtype, scale and zero_point
    (e.g. the NumPy reference interpreter's TensorInfo, whose scale is an array)."""
    if isinstance(tensor, TensorSpec):
        return tensor
    shape = tuple(int(d) for d in tensor.shape)
    if len(shape) == 3:
        shape = (1, *shape)
    scale = np.ravel(np.asarray(getattr(tensor, "scale", 0.0), np.float64))
    zero_point = np.ravel(np.asarray(getattr(tensor, "zero_point", 0), np.int64))
    return TensorSpec(
        index=int(getattr(tensor, "index", 0)),
        name=str(getattr(tensor, "name", "")),
        shape=shape,
        dtype=np.dtype(tensor.dtype),
        scale=float(scale[0]) if scale.size else 0.0,
        zero_point=int(zero_point[0]) if zero_point.size else 0,
    )


def quantize_input(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float model-input values -> what the input tensor holds (q = round(v / s) + z, clipped)."""
    if not spec.is_quantized:
        return np.asarray(values, spec.dtype)
    info = np.iinfo(spec.dtype)
    q = np.round(np.asarray(values, np.float64) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(values: np.ndarray, spec: TensorSpec, out: np.ndarray | None = None) -> np.ndarray:
    """Tensor values -> float32 ((q - z) * s for any integer type)."""
    if out is None:
        out = np.empty(values.shape, np.float32)
    if not spec.is_quantized:
        np.copyto(out, values, casting="unsafe")
        return out
    np.copyto(out, values, casting="unsafe")  # to float first: int8 - zero point overflows
    out -= spec.zero_point
    out *= spec.scale
    return out


def output_table(spec: TensorSpec) -> np.ndarray | None:
    """For 8-bit quantised outputs: float32 value of every byte (indexed by the raw byte)."""
    if not spec.is_quantized or spec.dtype.itemsize != 1:
        return None
    return dequantize(np.arange(256, dtype=np.uint8).view(spec.dtype), spec)


def import_backend(backend: str):
    """(Interpreter class, load_delegate) of one backend, or EdgeCnnError saying how to get it."""
    if backend == "litert":
        if importlib.util.find_spec("ai_edge_litert") is None:
            raise EdgeCnnError(
                "backend litert: ai-edge-litert is not installed: pip install ai-edge-litert "
                "(wheels for Linux x86-64/aarch64, macOS arm64; 64-bit Raspberry Pi OS)"
            )
        from ai_edge_litert.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate
    if backend == "tflite-runtime":
        if importlib.util.find_spec("tflite_runtime") is None:
            raise EdgeCnnError(
                "backend tflite-runtime: tflite-runtime is not installed: prefer --backend "
                "litert (pip install ai-edge-litert); tflite-runtime needs Python <= 3.11 and "
                "numpy<2"
            )
        if int(np.__version__.split(".")[0]) >= 2:
            raise EdgeCnnError(
                f"backend tflite-runtime: it is built against NumPy 1 and crashes under NumPy "
                f"{np.__version__}: pip install 'numpy<2', or use --backend litert "
                "(pip install ai-edge-litert)"
            )
        from tflite_runtime.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate
    if backend == "tensorflow":
        if importlib.util.find_spec("tensorflow") is None:
            raise EdgeCnnError(
                "backend tensorflow: TensorFlow is not installed: use --backend litert "
                "(pip install ai-edge-litert) on a device"
            )
        import tensorflow as tf

        return tf.lite.Interpreter, tf.lite.experimental.load_delegate
    raise EdgeCnnError(f"unknown backend {backend!r}: choose auto, {', '.join(BACKENDS)}")


def choose_backend(backend: str = "auto"):
    """(name, Interpreter, load_delegate): the forced backend, or the first one available."""
    if backend != "auto":
        return (backend, *import_backend(backend))
    reasons = []
    for name in BACKENDS:
        try:
            interpreter, load_delegate = import_backend(name)
        except EdgeCnnError as exc:
            reasons.append(str(exc).split(": ", 1)[1])
            continue
        if name == "tensorflow":
            warn("using TensorFlow's interpreter (a workstation fallback): on a device install "
                 "ai-edge-litert")  # fmt: skip
        return name, interpreter, load_delegate
    raise EdgeCnnError(
        "no TFLite runtime is installed: pip install ai-edge-litert "
        f"(or edgecnn[device]) — {'; '.join(reasons)}"
    )


def check_model_file(path: Path) -> bytes:
    """The model's bytes, or a one-line error for a missing or non-TFLite file."""
    if not path.exists():
        raise EdgeCnnError(f"model {path} does not exist: run edgecnn convert or check the path")
    if not path.is_file():
        raise EdgeCnnError(f"model {path} is not a file: give the .tflite file")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgeCnnError(
            f"{path} is not a TensorFlow Lite model (no TFL3 flatbuffer): give the .tflite "
            "written by edgecnn convert"
        )
    return data


def is_edgetpu_model(data: bytes) -> bool:
    return EDGETPU_CUSTOM_OP in data


def edgetpu_model_beside(model_path: Path) -> Path | None:
    """`model_edgetpu.tflite` beside `model.tflite`, or the model itself when it is one."""
    if model_path.stem.endswith("_edgetpu"):
        return model_path
    candidate = model_path.with_name(f"{model_path.stem}_edgetpu{model_path.suffix}")
    return candidate if candidate.is_file() else None


def cpu_model_beside(model_path: Path) -> Path | None:
    if not model_path.stem.endswith("_edgetpu"):
        return model_path
    candidate = model_path.with_name(
        f"{model_path.stem.removesuffix('_edgetpu')}{model_path.suffix}"
    )
    return candidate if candidate.is_file() else None


def _usb_edgetpus() -> list[str]:
    """sysfs paths of Coral USB Accelerators plugged in."""
    found = []
    for vendor_file in glob.glob("/sys/bus/usb/devices/*/idVendor"):
        folder = os.path.dirname(vendor_file)
        try:
            vendor = Path(vendor_file).read_text().strip()
            product = Path(folder, "idProduct").read_text().strip()
        except OSError:
            continue
        if (vendor, product) in CORAL_USB_IDS:
            found.append(folder)
    return found


def _usb_node(sysfs_folder: str) -> str | None:
    try:
        bus = int(Path(sysfs_folder, "busnum").read_text())
        dev = int(Path(sysfs_folder, "devnum").read_text())
    except (OSError, ValueError):
        return None
    return f"/dev/bus/usb/{bus:03d}/{dev:03d}"


def diagnose_edgetpu(library: str, error: str) -> str:
    """Why the Edge TPU delegate did not load, and what to do (one line)."""
    try:
        ctypes.CDLL(library)
    except OSError:
        return f"the Edge TPU runtime {library} is not installed: {CORAL_APT}"
    apex = sorted(glob.glob("/dev/apex_*"))
    usb = _usb_edgetpus()
    if not apex and not usb:
        return (
            "no Edge TPU found: plug the USB Accelerator into a USB 3 port, or for an M.2/PCIe "
            "card install gasket-dkms (Coral's apt repository) so that /dev/apex_0 appears"
        )
    blocked = [p for p in apex if not os.access(p, os.R_OK | os.W_OK)]
    blocked += [n for n in map(_usb_node, usb) if n and not os.access(n, os.R_OK | os.W_OK)]
    if blocked:
        return (
            f"the Edge TPU is not accessible to you ({', '.join(blocked)}): add yourself to the "
            "'plugdev' group (USB; the udev rule comes with libedgetpu1-std) or the 'apex' group "
            "(PCIe), replug it and log in again"
        )
    return (
        f"the Edge TPU runtime could not use the device ({error}): most likely a version "
        "mismatch between libedgetpu, the TFLite runtime and the edgetpu_compiler that made "
        f"the model; reinstall matching versions ({CORAL_APT}) and recompile the model"
    )


def load_edgetpu_delegate(load_delegate):
    """The Edge TPU delegate, or EdgeCnnError with the likely cause and fix."""
    library = EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")
    # Checked first: the runtimes' Delegate objects fail noisily at exit when the library is
    # missing or is not a delegate plugin.
    try:
        plugin = ctypes.CDLL(library)
    except OSError:
        raise EdgeCnnError(f"Edge TPU: {diagnose_edgetpu(library, 'not found')}") from None
    if not hasattr(plugin, "tflite_plugin_create_delegate"):
        raise EdgeCnnError(
            f"Edge TPU: the {library} found is not a usable Edge TPU runtime (it has no "
            f"delegate entry point): reinstall it, {CORAL_APT}"
        )
    try:
        return load_delegate(library)
    except (ValueError, OSError, RuntimeError, AttributeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise EdgeCnnError(f"Edge TPU: {diagnose_edgetpu(library, first_line)}")


class Runtime:
    """One loaded model: its input and output specs, and `classify` for one input."""

    def __init__(self, interpreter, backend: str, model_path: Path, on_edgetpu: bool) -> None:
        self.interpreter = interpreter
        self.backend = backend
        self.model_path = model_path
        self.on_edgetpu = on_edgetpu
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1:
            raise EdgeCnnError(
                f"model {model_path} has {len(inputs)} inputs: edgecnn run needs one image input"
            )
        self.input_spec = TensorSpec.from_details(inputs[0])
        self.output_spec = TensorSpec.from_details(outputs[0])
        shape = self.input_spec.shape
        if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3) or min(shape[1:3]) < 2:
            raise EdgeCnnError(
                f"model {model_path} takes input of shape {list(shape)}, not an image: "
                "edgecnn run needs [1, height, width, 1 or 3] (grey or colour)"
            )
        if int(np.prod(self.output_spec.shape)) != self.output_spec.shape[-1]:
            raise EdgeCnnError(
                f"model {model_path} outputs shape {list(self.output_spec.shape)}: edgecnn run "
                "needs one score per class ([1, classes])"
            )
        self._scores_shaped = np.empty(self.output_spec.shape, np.float32)
        self.scores = self._scores_shaped.reshape(-1)  # a view of the same memory
        self._input_index, self._output_index = self.input_spec.index, self.output_spec.index
        self._table = output_table(self.output_spec)
        self._input_view = interpreter.tensor(self.input_spec.index)  # no copies per frame
        self._output_view = interpreter.tensor(self.output_spec.index)

    @property
    def num_classes(self) -> int:
        return self.output_spec.shape[-1]

    def invoke(self) -> None:
        """The bare interpreter call (for comparison in edgecnn bench)."""
        self.interpreter.invoke()

    def input_tensor(self) -> np.ndarray:
        """A writable view of the input tensor ([1, H, W, C]), to fill in place before `run()`.

        Drop it before `run()`: the runtimes refuse to invoke while such a view is alive.
        """
        return self._input_view()

    def run(self) -> np.ndarray:
        """Invoke on the input tensor as it is; the first output's scores, dequantised."""
        self.interpreter.invoke()
        raw = self._output_view()  # a view: dropped before the next invoke()
        if self._table is not None:  # 8-bit output: one table lookup per score
            self._table.take(raw.view(np.uint8), out=self._scores_shaped, mode="wrap")
        else:
            dequantize(raw, self.output_spec, out=self._scores_shaped)
        return self.scores

    def classify(self, model_input: np.ndarray) -> np.ndarray:
        """Scores (float32, dequantised) of the first output for one model input."""
        self.interpreter.set_tensor(self._input_index, model_input)
        return self.run()


def load_runtime(
    model_path: str | Path,
    backend: str = "auto",
    threads: int | None = None,
    edgetpu: str = "off",
) -> Runtime:
    """Load a .tflite model for `edgecnn run`/`bench`.

    `edgetpu`: "off" runs on the CPU; "on" requires the Edge TPU delegate (and prefers
    `*_edgetpu.tflite` beside the model); "auto" tries the delegate when there is an Edge TPU
    model (`*_edgetpu.tflite` beside the model, or the model itself) and, when the delegate
    does not load, warns and runs the CPU model. (Without a compiled model the Edge TPU
    would have nothing to run, so "auto" then goes straight to the CPU, quietly.)
    """
    model_path = Path(model_path)
    check_model_file(model_path)
    name, interpreter_class, load_delegate = choose_backend(backend)
    wanted_tpu = edgetpu in ("on", "auto")
    tpu_model = edgetpu_model_beside(model_path)
    if wanted_tpu and (edgetpu == "on" or tpu_model is not None):
        path = tpu_model or model_path
        check_model_file(path)
        try:
            delegate = load_edgetpu_delegate(load_delegate)
        except EdgeCnnError as exc:
            if edgetpu == "on":
                raise
            warn(f"{exc}; running on the CPU")
        else:
            if not is_edgetpu_model(path.read_bytes()):
                warn(
                    f"{path.name} is not compiled for the Edge TPU, so it runs on the CPU: "
                    "compile it with edgetpu_compiler (edgecnn convert --edgetpu)"
                )
            interpreter = _make_interpreter(interpreter_class, path, threads, [delegate])
            return Runtime(interpreter, name, path, on_edgetpu=True)
    cpu_path = cpu_model_beside(model_path)
    if cpu_path is None:
        raise EdgeCnnError(
            f"{model_path} is compiled for the Edge TPU and the Edge TPU is not in use: pass "
            f"the CPU model ({model_path.name.replace('_edgetpu', '')}) or --edgetpu on"
        )
    data = check_model_file(cpu_path)
    if is_edgetpu_model(data):
        raise EdgeCnnError(
            f"{cpu_path} is compiled for the Edge TPU: use --edgetpu on, or pass the CPU "
            "model.tflite that edgecnn convert wrote"
        )
    interpreter = _make_interpreter(interpreter_class, cpu_path, threads, [])
    runtime = Runtime(interpreter, name, cpu_path, on_edgetpu=False)
    if not runtime.input_spec.is_quantized:
        warn(
            f"{cpu_path.name} takes {runtime.input_spec.dtype.name} input, not int8: it runs, "
            "but slower than the full-int8 model edgecnn convert makes"
        )
    return runtime


@contextlib.contextmanager
def _without_xnnpack_notice() -> Iterator[None]:
    """Hide the runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" line (written by
    C++ straight to file descriptor 2); anything else it writes is passed on."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured): leave it
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not line.startswith(XNNPACK_NOTICE):
                    sys.stderr.write(line)
            sys.stderr.flush()


def _make_interpreter(interpreter_class, path: Path, threads: int | None, delegates: list):
    try:
        with _without_xnnpack_notice():
            interpreter = interpreter_class(
                model_path=str(path), num_threads=threads, experimental_delegates=delegates or None
            )
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeCnnError(f"cannot load {path} ({first_line}): re-run edgecnn convert") from None
    return interpreter
