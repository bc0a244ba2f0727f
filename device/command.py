"""`edgecnn run` and `edgecnn bench`: build the pieces from one options record and run them."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from edgecnn.console import counted
from edgecnn.device.benchmark import BenchOptions, format_report, run_benchmark
from edgecnn.device.loop import FrameResult, Presenter, StopSignals, run_loop
from edgecnn.device.outputs.mjpeg import (
    DEFAULT_MAX_CLIENTS,
    ServeOptions,
    serve_options,
    start_page_server,
)
from edgecnn.device.outputs.mqtt import DEFAULT_INTERVAL, MqttOptions, mqtt_options
from edgecnn.device.pipeline import PipelineOptions, build_pipeline
from edgecnn.device.sources.frames import open_source
from edgecnn.errors import EdgeCnnError


@dataclass(frozen=True)
class RunOptions(PipelineOptions):
    """`edgecnn run`'s options (named like the CLI's): the pipeline's, then the source and
    where results go."""

    source: str = "0"
    as_json: bool = False
    serve: str | None = None
    record: Path | None = None
    max_frames: int | None = None
    display: bool | None = None
    serve_token: str | None = None
    serve_token_file: Path | None = None
    serve_max_clients: int = DEFAULT_MAX_CLIENTS
    mqtt: str | None = None
    mqtt_interval: float = DEFAULT_INTERVAL
    mqtt_password_file: Path | None = None
    mqtt_discovery: str | None = None
    mqtt_ca_file: Path | None = None


class LabelChangePresenter(Presenter):
    """With no other output: print a line when the label changes, so a plain run says something."""

    def __init__(self) -> None:
        self.last: str | None = None

    def present(self, result: FrameResult) -> None:
        label = result.prediction.label
        if label != self.last:
            score = result.prediction.score
            print(f"frame {result.index}: {label} ({score:.0%})", flush=True)
            self.last = label


def make_presenters(
    stack: contextlib.ExitStack,
    as_json: bool,
    serving: ServeOptions | None,
    record: Path | None,
    display: bool | None,
    fps: float | None,
    on_quit,
    publishing: MqttOptions | None = None,
) -> list[Presenter]:
    """The presenters asked for; each is closed by `stack` however the run ends."""
    from edgecnn.device.outputs.presenters import (
        JsonLinesPresenter,
        VideoRecorder,
        WindowPresenter,
        display_available,
    )

    presenters: list[Presenter] = []

    def add(presenter: Presenter) -> None:
        stack.callback(presenter.close)
        presenters.append(presenter)

    if display is not False:
        available, why = display_available()
        if available:
            add(WindowPresenter(on_quit))
        elif display:
            raise EdgeCnnError(f"--display: cannot show a window: {why}; use --no-display")
    if as_json:
        add(JsonLinesPresenter())
    if serving is not None:
        add(start_page_server(serving))
    if publishing is not None:
        from edgecnn.device.outputs.mqtt_presenter import MqttPresenter

        add(MqttPresenter(publishing))
    if record is not None:
        add(VideoRecorder(record, fps))
    if not presenters:
        add(LabelChangePresenter())
    return presenters


def run_live(options: RunOptions) -> None:
    """Classify frames from `options.source` until it ends, --max-frames, SIGINT or SIGTERM."""
    o = options
    # The options first: a bad one is one line before the camera or the model is touched.
    serving = (
        serve_options(o.serve, o.serve_token, o.serve_token_file, o.serve_max_clients)
        if o.serve is not None
        else None
    )
    publishing = (
        mqtt_options(
            o.mqtt, o.mqtt_interval, o.mqtt_password_file, o.mqtt_discovery, o.mqtt_ca_file
        )
        if o.mqtt is not None
        else None
    )
    pipeline = build_pipeline(o)
    runtime = pipeline.runtime
    with (
        open_source(o.source) as frames,
        StopSignals(on_stop=frames.stop) as signals,
        contextlib.ExitStack() as stack,
    ):
        presenters = make_presenters(
            stack, o.as_json, serving, o.record, o.display, frames.fps, signals.event.set,
            publishing,
        )  # fmt: skip
        stats = run_loop(
            frames, pipeline.preprocessor, runtime, pipeline.postprocessor, presenters,
            o.max_frames, stop=signals.event, keep_latencies=False,
        )  # fmt: skip
    how = f"stopped by {signals.signal_name}" if signals.signal_name else "done"
    print(
        f"edgecnn: {how}: {counted(stats.frames, 'frame')} in {stats.seconds:.1f} s "
        f"({stats.fps:.1f} FPS), "
        f"{runtime.backend}{' + Edge TPU' if runtime.on_edgetpu else ''}",
        file=sys.stderr,
        flush=True,
    )


def run_bench(options: BenchOptions) -> dict:
    """Print per-stage latencies (table, or one JSON object with --json); return them."""
    result = run_benchmark(options)
    print(json.dumps(result) if options.as_json else format_report(result), flush=True)
    return result
