"""A documented test hook: a runtime that computes the wrong thing, for real.

`EDGECNN_PERTURB_RUNTIME=N` (an integer) makes every interpreter of TFLite's optimized
kernels that edgecnn opens (`edgecnn.backends` opens them through `perturbed`): the one
`run`, `bench` and `doctor` use, and the one `verify` checks as its `optimized` engine, add N LSB (saturating) to each output after every
`invoke()`, in the interpreter's own memory, as a broken kernel or a bad wheel would. The
tests use it to prove that verify fails and the start-up self-check refuses such a runtime;
nothing else sets it. Unset or 0: interpreters are returned untouched.
"""

from __future__ import annotations

import os

import numpy as np

from edgecnn.errors import EdgeCnnError

ENV = "EDGECNN_PERTURB_RUNTIME"


def planted_fault() -> int:
    """The LSB the hook adds, 0 when it is not set."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise EdgeCnnError(f"{ENV}={value!r}: give an integer number of LSB") from None


def perturbed(interpreter):
    """`interpreter`, or a `PerturbedInterpreter` around it when the hook is set."""
    lsb = planted_fault()
    return PerturbedInterpreter(interpreter, lsb) if lsb else interpreter


class PerturbedInterpreter:
    """A TFLite interpreter whose outputs are off by `lsb` after each `invoke()`."""

    def __init__(self, interpreter, lsb: int) -> None:
        self._interpreter = interpreter
        self.lsb = lsb

    def invoke(self) -> None:
        self._interpreter.invoke()
        for detail in self._interpreter.get_output_details():
            values = self._interpreter.tensor(detail["index"])()
            if np.issubdtype(values.dtype, np.integer):
                info = np.iinfo(values.dtype)
                shifted = np.clip(values.astype(np.int64) + self.lsb, info.min, info.max)
                values[...] = shifted.astype(values.dtype)
            else:
                values += values.dtype.type(self.lsb)
            del values  # the interpreter refuses to invoke while a view of it is alive

    def __getattr__(self, name: str):
        return getattr(self._interpreter, name)
