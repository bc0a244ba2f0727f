"""Progress of long work, as training shows its epochs (train/progress.py): a tqdm bar on a
terminal; on anything else (a log file, a pipe, the journal) a plain line every `INTERVAL`
seconds, so a long step is never silent and a log is not flooded.

    progress = Progress(total, "demo video", unit="frames")
    for ...:
        progress.update(1, skipped=3)   # figures shown beside the count
    progress.close()

`total` None counts without an end (a capture that stops when asked). `leave` keeps the
finished bar on the terminal (one per training epoch).
"""

from __future__ import annotations

import sys
import time

INTERVAL = 10.0


class Progress:
    """A count of `unit` done so far out of `total` (see the module's docstring)."""

    def __init__(
        self,
        total: int | None,
        label: str,
        unit: str = "items",
        enabled: bool = True,
        leave: bool = False,
    ) -> None:
        self.total, self.label, self.unit, self.enabled = total, label, unit, enabled
        self.done = 0
        self.figures: dict[str, object] = {}
        self.started = self.last = time.monotonic()
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit=f" {unit}", file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5, leave=leave)  # fmt: skip

    def update(self, n: int = 1, **figures: object) -> None:
        self.done += n
        self.figures.update(figures)
        if self.bar is not None:
            self.bar.update(n)
            if figures:
                self.bar.set_postfix(self.figures, refresh=False)
            return
        now = time.monotonic()
        if self.enabled and now - self.last >= INTERVAL and self.done != self.total:
            self.last = now
            print(f"{self.label}: {self.line()} ({now - self.started:.0f} s)", file=sys.stderr,
                  flush=True)  # fmt: skip

    def line(self) -> str:
        """The count as words: '120/400 frames (30%), skipped 3'."""
        if self.total:
            count = f"{self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%)"
        else:
            count = f"{self.done} {self.unit}"
        extra = ", ".join(
            f"{name.replace('_', ' ')} {value}" for name, value in self.figures.items()
        )
        return f"{count}, {extra}" if extra else count

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
