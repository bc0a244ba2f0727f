"""The training progress: one bar per epoch on a terminal (`edgecnn.progress`), with running
loss and accuracy; one line per epoch when stderr is a log file, a pipe or the journal."""

from __future__ import annotations

import sys
import time

from edgecnn.console import echo
from edgecnn.progress import Progress


class EpochBar:
    """`start(epoch)`, `step(loss, accuracy)` per batch, `finish(logs)` with the epoch's figures."""

    def __init__(self, epochs: int, steps: int, enabled: bool = True, prefix: str = "") -> None:
        self.epochs, self.steps, self.enabled, self.prefix = epochs, steps, enabled, prefix
        self.bar: Progress | None = None
        self.batch = 0
        self.lines = enabled and not sys.stderr.isatty()
        self.label, self.started = "", 0.0

    def start(self, epoch: int) -> None:
        """Epoch numbers count from 0; the bar shows 'epoch 1/N'."""
        self.label, self.started = f"{self.prefix}epoch {epoch + 1}/{self.epochs}", time.monotonic()
        if not self.enabled or self.lines:
            return
        self.batch = 0
        self.bar = Progress(self.steps, self.label, unit="batch", leave=True)

    def step(self, loss: float, accuracy: float) -> None:
        if self.bar is None:
            return
        if self.batch % 10 == 0:
            self.bar.update(1, loss=f"{loss:.3f}", acc=f"{accuracy:.3f}")
        else:
            self.bar.update(1)
        self.batch += 1

    def finish(self, logs: dict[str, float]) -> None:
        if self.lines:
            figures = ", ".join(f"{key} {value:.4f}" for key, value in logs.items())
            echo(f"{self.label}: {figures} ({time.monotonic() - self.started:.0f} s)")
        if self.bar is None:
            return
        self.bar.update(
            0,
            loss=f"{logs['loss']:.3f}",
            acc=f"{logs['accuracy']:.3f}",
            val_loss=f"{logs['val_loss']:.3f}",
            val_acc=f"{logs['val_accuracy']:.4f}",
        )
        self.bar.close()
        self.bar = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
