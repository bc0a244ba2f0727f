"""Model hot reload: `edgecnn run` takes a new model between two frames, the camera kept open.

What starts a reload:

- the model's files changing: model.tflite, model.json, model_edgetpu.tflite beside them and
  a --labels file, looked at every `WATCH_INTERVAL_S` (size, time, inode: a copy, an rsync's
  rename, a symbolic link moved), and acted on once they have been quiet for `SETTLE_S`, so
  a copy in progress is not read half-written;
- SIGHUP (`systemctl reload edgecnn`, `kill -HUP PID`): now, whether or not they changed.

The new model is opened off the loop's thread exactly as at start-up (`build_pipeline`: the
bundle and its SHA-256 against model.json, the runtime and its start-up self-check), and must
take the input shape of the running one. Only then does the loop take it (`take()`, between
two frames): the swap is a few assignments, the stable state carries over, and no frame
waits for the load. A model that fails any check is refused in one line naming why, and the
running model goes on; its files are tried again when they change again (or on SIGHUP).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edgecnn.console import echo, warn
from edgecnn.device.pipeline import Pipeline, PipelineOptions, build_pipeline
from edgecnn.edgetpu import paired_name
from edgecnn.errors import EdgeCnnError
from edgecnn.sidecar import sidecar_path_for

WATCH_INTERVAL_S = 1.0
SETTLE_S = 1.0


def files_state(paths: list[Path]) -> tuple:
    """What tells a file's new version from its old one: (inode, size, modification time),
    or None for a file that is not there."""
    state = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            state.append(None)
        else:
            state.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(state)


def watched_paths(options: PipelineOptions) -> list[Path]:
    """The files a model is opened from: the .tflite, model.json, the other file of the Edge
    TPU pair (there yet or not) and a --labels file."""
    model = Path(options.model)
    paths = [model, sidecar_path_for(model), paired_name(model)]
    if options.labels_path is not None:
        paths.append(Path(options.labels_path))
    return paths


@dataclass
class ReloadStatus:
    """What the page and the run's summary say about reloads."""

    reloads: int = 0
    refused: int = 0
    last: str = ""  # the last reload or refusal, in a few words
    load_ms: float | None = None  # opening and checking the last model taken, off the loop
    swap_us: float | None = None  # the loop's own part of the last swap

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


class ModelReloader:
    """Watches the model of `current` (built from `options`) and builds its replacements;
    the loop calls `take()` once per frame. Use as a context manager (the watcher thread and
    the SIGHUP handler live inside it)."""

    def __init__(
        self, options: PipelineOptions, current: Pipeline, opened_from: tuple | None = None
    ) -> None:
        """`opened_from`: `files_state(watched_paths(options))` taken before `current` was
        built (by default, now), so a change made meanwhile counts."""
        self.options, self.current = options, current
        self.status = ReloadStatus()
        self._ready: Pipeline | None = None
        self._ready_at = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._asked = False  # SIGHUP
        self._closing = False
        self._paths = watched_paths(options)
        self._opened_from = opened_from or files_state(self._paths)
        self._thread = threading.Thread(target=self._watch, name="edgecnn-reload", daemon=True)
        self._previous_handler: object = None

    # --- the loop's thread ------------------------------------------------------------

    def take(self) -> Pipeline | None:
        """The new pipeline when one is ready (the loop swaps it in now), else None."""
        if self._ready is None:
            return None
        started = time.perf_counter()
        with self._lock:
            new, self._ready = self._ready, None
        if new is None:
            return None
        new.postprocessor.carry_over(self.current.postprocessor)
        old, self.current = self.current, new
        self.status.swap_us = round((time.perf_counter() - started) * 1e6, 1)
        self.status.reloads += 1
        model = new.postprocessor.model
        self.status.last = f"now running {model.short if model else new.bundle.path}"
        echo(
            f"edgecnn: model reloaded: {describe(new)} in place of "
            f"{describe(old, labels=False)} (opened and checked in {self.status.load_ms:.0f} ms "
            "beside the loop; swapped between two frames)"
        )
        return new

    # --- the watcher's thread ---------------------------------------------------------

    def _watch(self) -> None:
        paths = self._paths
        acted_on = seen = self._opened_from
        now = quiet_since = time.monotonic()
        while True:
            settling = seen != acted_on
            self._wake.wait(
                max(0.05, SETTLE_S - (now - quiet_since)) if settling else WATCH_INTERVAL_S
            )
            self._wake.clear()
            if self._closing:
                return
            now, state = time.monotonic(), files_state(paths)
            if state != seen:
                seen, quiet_since = state, now
            asked, self._asked = self._asked, False
            if asked or (seen != acted_on and now - quiet_since >= SETTLE_S):
                self._attempt("SIGHUP" if asked else "its files changed")
                acted_on = seen

    def _attempt(self, why: str) -> None:
        """Open the model as at start-up; hand it to the loop, or refuse it in one line."""
        started = time.perf_counter()
        try:
            candidate = build_pipeline(self.options)
            check_replacement(self.current, candidate)
        except EdgeCnnError as exc:
            self.status.refused += 1
            self.status.last = f"refused: {exc}"
            warn(
                f"model reload ({why}) refused: {exc}; still running "
                f"{describe(self.current, labels=False)}"
            )
            return
        except Exception as exc:  # a bug must not take the running model down with it
            self.status.refused += 1
            self.status.last = f"refused: {type(exc).__name__}: {exc}"
            warn(f"model reload ({why}) failed: {type(exc).__name__}: {exc}; still running "
                 f"{describe(self.current, labels=False)}")  # fmt: skip
            return
        if same_model(self.current, candidate):
            if why == "SIGHUP":
                echo(f"edgecnn: SIGHUP: the model is unchanged ({describe(self.current)})")
            return
        self.status.load_ms = round((time.perf_counter() - started) * 1000, 1)
        with self._lock:
            self._ready = candidate

    def _sighup(self, _signum: int, _frame: object) -> None:
        self._asked = True
        self._wake.set()

    def __enter__(self) -> ModelReloader:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
            self._previous_handler = signal.signal(signal.SIGHUP, self._sighup)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(30)
        if self._previous_handler is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGHUP, self._previous_handler)


def describe(pipeline: Pipeline, labels: bool = True) -> str:
    """A model in a few words: its file, its id, and (`labels`) its classes."""
    model = pipeline.postprocessor.model
    text = f"{pipeline.bundle.path.name} {model.short if model else '?'}"
    if labels:
        names = pipeline.postprocessor.labels
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        text += f" ({len(names)} classes: {shown})"
    return text


def check_replacement(current: Pipeline, candidate: Pipeline) -> None:
    """The new model must take what the running one takes: the same input shape."""
    before, after = current.runtime.input_spec.shape, candidate.runtime.input_spec.shape
    if tuple(before) != tuple(after):
        raise EdgeCnnError(
            f"{candidate.bundle.path} takes input of shape {list(after)}, the running model "
            f"{list(before)}: restart edgecnn run to change the input"
        )


def same_model(a: Pipeline, b: Pipeline) -> bool:
    return (
        a.runtime.model.sha256 == b.runtime.model.sha256
        and a.postprocessor.labels == b.postprocessor.labels
        and a.bundle.sidecar == b.bundle.sidecar
    )
