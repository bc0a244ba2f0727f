"""The training progress bar: one tqdm bar per epoch on stderr, with running loss and accuracy."""

from __future__ import annotations

import sys


class EpochBar:
    """`start(epoch)`, `step(loss, accuracy)` per batch, `finish(logs)` with the epoch's figures."""

    def __init__(self, epochs: int, steps: int, enabled: bool = True, prefix: str = "") -> None:
        self.epochs, self.steps, self.enabled, self.prefix = epochs, steps, enabled, prefix
        self.bar = None
        self.batch = 0

    def start(self, epoch: int) -> None:
        """Epoch numbers count from 0; the bar shows 'epoch 1/N'."""
        if not self.enabled:
            return
        from tqdm import tqdm

        self.batch = 0
        self.bar = tqdm(
            total=self.steps,
            desc=f"{self.prefix}epoch {epoch + 1}/{self.epochs}",
            unit="batch",
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=0.5,
            leave=True,
        )

    def step(self, loss: float, accuracy: float) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        if self.batch % 10 == 0:
            self.bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.3f}")
        self.batch += 1

    def finish(self, logs: dict[str, float]) -> None:
        if self.bar is None:
            return
        self.bar.set_postfix(
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
