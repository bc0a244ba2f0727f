"""`Runtime`: one loaded model on the device, and `load_runtime`, which picks the backend and
the Edge TPU when asked (see `backends` and `edgetpu`).

`Runtime.run()` invokes on the input tensor as it is and returns the first output
dequantised to float32, whatever integer type the model uses. The model file is read once
with the project's model reader, which also gives the input and output tensors' types and
quantisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecnn.console import warn
from edgecnn.device.inference.backends import choose_backend
from edgecnn.device.inference.edgetpu import (
    cpu_model_beside,
    edgetpu_model_beside,
    is_edgetpu_model,
    load_edgetpu_delegate,
)
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.native_output import quiet_native_output
from edgecnn.quantization import dequantize_tensor, value_table
from edgecnn.sidecar import check_model_file
from edgecnn.tflite_model import TfliteModel, read_model


class Runtime:
    """One loaded model: its input and output tensors, and `run` for the input in place."""

    def __init__(
        self, interpreter, backend: str, model_path: Path, model: TfliteModel, on_edgetpu: bool
    ) -> None:
        self.interpreter = interpreter
        self.backend = backend
        self.model_path = model_path
        self.on_edgetpu = on_edgetpu
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1:
            raise EdgeCnnError(
                f"model {model_path} has {len(inputs)} inputs: edgecnn run needs one image input"
            )
        self.input_spec = model.tensors[inputs[0]["index"]]
        self.output_spec = model.tensors[outputs[0]["index"]]
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
        self._input_index = self.input_spec.index
        self._table = value_table(self.output_spec)
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
            dequantize_tensor(raw, self.output_spec, out=self._scores_shaped)
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
    verify_hash: bool = True,
) -> Runtime:
    """Load a .tflite model for `edgecnn run`/`bench`.

    `edgetpu`: "off" runs on the CPU; "on" requires the Edge TPU delegate (and prefers
    `*_edgetpu.tflite` beside the model); "auto" tries the delegate when there is an Edge TPU
    model (`*_edgetpu.tflite` beside the model, or the model itself) and, when the delegate
    does not load, warns and runs the CPU model. (Without a compiled model the Edge TPU
    would have nothing to run, so "auto" then goes straight to the CPU, quietly.)
    The file loaded must match the hash in model.json unless `verify_hash` is False.
    """
    model_path = Path(model_path)
    given = read_model(model_path)  # a missing, foreign or corrupt file: one line, first

    def model_at(path: Path) -> TfliteModel:
        return given if path == model_path else read_model(path)

    name, interpreter_class, load_delegate = choose_backend(backend)
    tpu_model = edgetpu_model_beside(model_path)
    if edgetpu == "on" or (edgetpu == "auto" and tpu_model is not None):
        path = tpu_model or model_path
        model = model_at(path)
        try:
            delegate = load_edgetpu_delegate(load_delegate)
        except EdgeCnnError as exc:
            if edgetpu == "on":
                raise
            warn(f"{exc}; running on the CPU")
        else:
            if not is_edgetpu_model(model):
                warn(
                    f"{path.name} is not compiled for the Edge TPU, so it runs on the CPU: "
                    "compile it with edgetpu_compiler (edgecnn convert --edgetpu)"
                )
            check_model_file(path, verify_hash)
            interpreter = make_interpreter(interpreter_class, path, threads, [delegate])
            return Runtime(interpreter, name, path, model, on_edgetpu=True)
    cpu_path = cpu_model_beside(model_path)
    if cpu_path is None:
        raise EdgeCnnError(
            f"{model_path} is compiled for the Edge TPU and the Edge TPU is not in use: pass "
            f"the CPU model ({model_path.name.replace('_edgetpu', '')}) or --edgetpu on"
        )
    model = model_at(cpu_path)
    if is_edgetpu_model(model):
        raise EdgeCnnError(
            f"{cpu_path} is compiled for the Edge TPU: use --edgetpu on, or pass the CPU "
            "model.tflite that edgecnn convert wrote"
        )
    check_model_file(cpu_path, verify_hash)
    interpreter = make_interpreter(interpreter_class, cpu_path, threads, [])
    runtime = Runtime(interpreter, name, cpu_path, model, on_edgetpu=False)
    if not runtime.input_spec.is_quantized:
        warn(
            f"{cpu_path.name} takes {runtime.input_spec.type_name} input, not int8: it runs, "
            "but slower than the full-int8 model edgecnn convert makes"
        )
    return runtime


def make_interpreter(interpreter_class, path: Path, threads: int | None, delegates: list):
    """The backend's interpreter for `path`, tensors allocated, its start-up notice hidden."""
    try:
        with quiet_native_output():
            interpreter = interpreter_class(
                model_path=str(path), num_threads=threads, experimental_delegates=delegates or None
            )
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise EdgeCnnError(
            f"cannot load {path} ({first_line(exc)}): re-run edgecnn convert"
        ) from None
    return interpreter
