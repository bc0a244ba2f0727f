"""`Runtime`: one model loaded for the device's loop, and `load_runtime`, which opens it
from a model bundle on the backend asked for, on the Edge TPU when asked and possible.

The interpreter is anything behind `edgecnn.backends.Interpreter` (a TFLite runtime, or the
NumPy reference): `Runtime.run()` invokes it on its input tensor as it is and returns the
first output dequantised to float32, whatever integer type the model uses. The tensors'
types and quantisation come from the model file as the bundle read it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecnn.backends import INTERPRETER_ERRORS, Interpreter, choose_backend
from edgecnn.bundle import ModelBundle, ModelFile
from edgecnn.console import warn
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.golden import SelfCheck, self_check
from edgecnn.quantization import dequantize_tensor, value_table


class Runtime:
    """One loaded model: its input and output tensors, and `run` for the input in place."""

    def __init__(
        self,
        interpreter: Interpreter,
        backend: str,
        model: ModelFile,
        on_edgetpu: bool = False,
        kernels: str = "optimized",
    ) -> None:
        self.interpreter = interpreter
        self.backend = backend
        self.model = model
        self.on_edgetpu = on_edgetpu
        self.kernels = kernels
        where = model.source
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1:
            raise EdgeCnnError(
                f"model {where} has {len(inputs)} inputs: edgecnn run needs one image input"
            )
        self.input_spec = model.graph.tensors[inputs[0]["index"]]
        self.output_spec = model.graph.tensors[outputs[0]["index"]]
        shape = self.input_spec.shape
        if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3) or min(shape[1:3]) < 2:
            raise EdgeCnnError(
                f"model {where} takes input of shape {list(shape)}, not an image: "
                "edgecnn run needs [1, height, width, 1 or 3] (grey or colour)"
            )
        if int(np.prod(self.output_spec.shape)) != self.output_spec.shape[-1]:
            raise EdgeCnnError(
                f"model {where} outputs shape {list(self.output_spec.shape)}: edgecnn run "
                "needs one score per class ([1, classes])"
            )
        self._scores_shaped = np.empty(self.output_spec.shape, np.float32)
        self.scores = self._scores_shaped.reshape(-1)  # a view of the same memory
        self._input_index = self.input_spec.index
        self._table = value_table(self.output_spec)
        self._input_view = interpreter.tensor(self.input_spec.index)  # no copies per frame
        self._output_view = interpreter.tensor(self.output_spec.index)

    @property
    def model_path(self) -> Path | None:
        return self.model.path

    @property
    def num_classes(self) -> int:
        return self.output_spec.shape[-1]

    def invoke(self) -> None:
        """The bare interpreter call (for comparison in edgecnn bench)."""
        try:
            self.interpreter.invoke()
        except INTERPRETER_ERRORS as exc:
            raise self._failed(exc) from None

    def input_tensor(self) -> np.ndarray:
        """A writable view of the input tensor ([1, H, W, C]), to fill in place before `run()`.

        Drop it before `run()`: the runtimes refuse to invoke while such a view is alive.
        """
        return self._input_view()

    def run(self) -> np.ndarray:
        """Invoke on the input tensor as it is; the first output's scores, dequantised."""
        self.invoke()
        raw = self._output_view()  # a view: dropped before the next invoke()
        if raw.shape != self._scores_shaped.shape or raw.dtype != self.output_spec.dtype:
            raise EdgeCnnError(  # a damaged graph the interpreter reshaped as it ran
                f"the {self.backend} interpreter gives {where_of(self)}'s output as {raw.dtype} "
                f"{list(raw.shape)}, not the {self.output_spec.type_name} "
                f"{list(self.output_spec.shape)} the file declares: re-copy it or re-run "
                "edgecnn convert"
            )
        if self._table is not None:  # 8-bit output: one table lookup per score
            self._table.take(raw.view(np.uint8), out=self._scores_shaped, mode="wrap")
        else:
            dequantize_tensor(raw, self.output_spec, out=self._scores_shaped)
        return self.scores

    def _failed(self, exc: Exception) -> EdgeCnnError:
        """An interpreter that loaded the model but cannot run it (a damaged or hand-made
        model whose ops do not fit their tensors): one line, never a traceback."""
        return EdgeCnnError(
            f"the {self.backend} interpreter cannot run {where_of(self)}: {first_line(exc)}: "
            "re-copy it or re-run edgecnn convert"
        )

    def classify(self, model_input: np.ndarray) -> np.ndarray:
        """Scores (float32, dequantised) of the first output for one model input."""
        self.interpreter.set_tensor(self._input_index, model_input)
        return self.run()


def where_of(runtime: Runtime) -> str:
    return str(runtime.model_path or "the model")


def load_runtime(
    bundle: ModelBundle,
    backend: str = "auto",
    threads: int | None = None,
    edgetpu: str = "off",
    kernels: str = "optimized",
) -> Runtime:
    """The bundle's model on `backend` (see `edgecnn.backends`) for `edgecnn run`/`bench`;
    `kernels="reference"` runs TFLite's reference kernels (what the NumPy reference equals
    bit for bit) instead of its optimized ones.

    `edgetpu`: "off" runs on the CPU; "on" requires the Edge TPU delegate (and prefers
    `*_edgetpu.tflite` beside the model); "auto" tries the delegate when there is an Edge TPU
    model (`*_edgetpu.tflite` beside the model, or the model itself) and, when the delegate
    does not load, warns and runs the CPU model. (Without a compiled model the Edge TPU
    would have nothing to run, so "auto" then goes straight to the CPU, quietly.)
    The file loaded must match the hash in model.json unless the bundle was opened without
    checking it.
    """
    chosen = choose_backend(backend)
    if edgetpu == "on" or (edgetpu == "auto" and bundle.edgetpu_path is not None):
        try:
            delegate = chosen.edgetpu_delegate()
        except EdgeCnnError as exc:
            if edgetpu == "on":
                raise
            warn(f"{exc}; running on the CPU")
        else:
            model = bundle.model_file(bundle.edgetpu_path or bundle.path)
            if not model.compiled_for_edgetpu:
                warn(
                    f"{model.source} is not compiled for the Edge TPU, so it runs on the CPU: "
                    "compile it with edgetpu_compiler (edgecnn convert --edgetpu)"
                )
            interpreter = chosen.open(model, kernels, threads, [delegate])
            return Runtime(interpreter, chosen.name, model, on_edgetpu=True, kernels=kernels)
    if bundle.cpu_path is None:
        raise EdgeCnnError(
            f"{bundle.path} is compiled for the Edge TPU and the Edge TPU is not in use: pass "
            f"the CPU model ({bundle.path.name.replace('_edgetpu', '')}) or --edgetpu on"
        )
    model = bundle.model_file(bundle.cpu_path)
    if model.compiled_for_edgetpu:
        raise EdgeCnnError(
            f"{model.source} is compiled for the Edge TPU: use --edgetpu on, or pass the CPU "
            "model.tflite that edgecnn convert wrote"
        )
    runtime = Runtime(chosen.open(model, kernels, threads), chosen.name, model, kernels=kernels)
    if not runtime.input_spec.is_quantized:
        warn(
            f"{model.source} takes {runtime.input_spec.type_name} input, not int8: it runs, "
            "but slower than the full-int8 model edgecnn convert makes"
        )
    return runtime


def check_runtime(runtime: Runtime, bundle: ModelBundle) -> SelfCheck:
    """The start-up self-check (`edgecnn.golden`) of `runtime`, opened for `bundle`: its golden
    vectors through the runtime (else random inputs against the NumPy reference). The record
    says whether it passed, on what, and why, in one line; nothing is raised for a breach."""
    return self_check(runtime.interpreter, bundle, runtime.model, runtime.backend,
                      runtime.kernels, runtime.on_edgetpu)  # fmt: skip
