"""`edgecnn run` and `edgecnn bench`: build the pieces from one options record and run them."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from edgecnn.console import counted, echo
from edgecnn.device.benchmark import BenchOptions, format_report, run_benchmark
from edgecnn.device.loop import FrameResult, Presenter, StopSignals, run_loop
from edgecnn.device.outputs.mjpeg import (
    DEFAULT_MAX_CLIENTS,
    ServeOptions,
    serve_options,
    start_page_server,
)
from edgecnn.device.outputs.mqtt import DEFAULT_INTERVAL, MqttOptions, mqtt_options
from edgecnn.device.outputs.run_status import RunStatus
from edgecnn.device.outputs.unsure import DEFAULT_UNSURE_EVERY
from edgecnn.device.pipeline import PipelineOptions, build_pipeline
from edgecnn.device.reload import ModelReloader, ReloadStatus, files_state, watched_paths
from edgecnn.device.sources.frames import open_source
from edgecnn.device.sources.pacing import check_loop, pace_source, parse_pace
from edgecnn.device.store.unlabelled import UnlabelledQueue


@dataclass(frozen=True)
class RunOptions(PipelineOptions):
    """`edgecnn run`'s options (named like the CLI's): the pipeline's, then the source and
    where results go."""

    source: str = "0"
    pace: str = "auto"
    loop: bool = False
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
    save_unsure: Path | None = None
    reload: bool = True
    unsure_every: float = DEFAULT_UNSURE_EVERY


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
    status: RunStatus | None = None,
) -> list[Presenter]:
    """The presenters asked for; each is closed by `stack` however the run ends. `status` is
    what the page says about the run (and learns of the MQTT connection here)."""
    from edgecnn.device.outputs.presenters import (
        JsonLinesPresenter,
        VideoRecorder,
        WindowPresenter,
        wants_window,
    )

    presenters: list[Presenter] = []

    def add(presenter: Presenter) -> None:
        stack.callback(presenter.close)
        presenters.append(presenter)

    if wants_window(display):
        add(WindowPresenter(on_quit))
    if as_json:
        add(JsonLinesPresenter())
    if serving is not None:
        server = start_page_server(serving)
        add(server)
        if status is not None:
            server.state.add("run", status.as_json)
    if publishing is not None:
        from edgecnn.device.outputs.mqtt_presenter import MqttPresenter

        mqtt = MqttPresenter(publishing)
        add(mqtt)
        if status is not None:
            status.mqtt = mqtt.publisher.connection
    if record is not None:
        add(VideoRecorder(record, fps))
    if not presenters:
        add(LabelChangePresenter())
    return presenters


def run_live(options: RunOptions) -> None:
    """Classify frames from `options.source` until it ends, --max-frames, SIGINT or SIGTERM."""
    o = options
    # The options first: a bad one is one line before the camera or the model is touched.
    serving = serve_options(o.serve, o.serve_token, o.serve_token_file, o.serve_max_clients)
    publishing = (
        mqtt_options(
            o.mqtt, o.mqtt_interval, o.mqtt_password_file, o.mqtt_discovery, o.mqtt_ca_file
        )
        if o.mqtt is not None
        else None
    )
    pace = parse_pace(o.pace)
    if o.save_unsure is not None:
        UnlabelledQueue(o.save_unsure)  # a file where the data set should be: one line now
    model_files = files_state(watched_paths(o))  # before the model is opened from them
    pipeline = build_pipeline(o)
    runtime = pipeline.runtime
    with contextlib.ExitStack() as stack:
        opened = stack.enter_context(open_source(o.source, o.loop))
        check_loop(opened, o.loop)
        frames = pace_source(opened, pace, watched=person_watches(o.display, serving))
        signals = stack.enter_context(StopSignals(on_stop=frames.stop))
        reloader = (
            stack.enter_context(ModelReloader(o, pipeline, model_files)) if o.reload else None
        )

        def model_status() -> dict:
            running = reloader.current if reloader is not None else pipeline
            reloads = reloader.status.as_json() if reloader is not None else {}
            return {**running.describe(), **reloads}

        status = RunStatus(frames, model_status)
        presenters = make_presenters(
            stack, o.as_json, serving, o.record, o.display, frames.fps, signals.event.set,
            publishing, status,
        )  # fmt: skip
        if o.save_unsure is not None:
            from edgecnn.device.outputs.unsure import UnsureSaver

            saver = UnsureSaver(o.save_unsure, o.unsure_every, frames.description, o.invert)
            stack.callback(saver.close)
            presenters.append(saver)
        stats = run_loop(
            frames, pipeline.preprocessor, runtime, pipeline.postprocessor, presenters,
            o.max_frames, stop=signals.event, keep_latencies=False,
            swaps=reloader.take if reloader is not None else None,
        )  # fmt: skip
        ended = not signals.event.is_set() and (o.max_frames is None or stats.frames < o.max_frames)
        if ended and serving is not None:
            status.source_state = "ended"
            echo(f"edgecnn: {frames.description} has ended; the page stays up and says so "
                 "(Ctrl-C or SIGTERM stops)")  # fmt: skip
            while not signals.event.wait(0.5):
                pass
    if reloader is not None:
        runtime = reloader.current.runtime
    how = f"stopped by {signals.signal_name}" if signals.signal_name else "done"
    skipped = getattr(frames, "skipped", 0)
    print(
        f"edgecnn: {how}: {counted(stats.frames, 'frame')} in {stats.seconds:.1f} s "
        f"({stats.fps:.1f} FPS), "
        f"{runtime.backend}{' + Edge TPU' if runtime.on_edgetpu else ''}"
        + (f"; {counted(skipped, 'frame')} skipped to keep pace" if skipped else "")
        + (reload_summary(reloader.status) if reloader is not None else ""),
        file=sys.stderr,
        flush=True,
    )


def reload_summary(status: ReloadStatus) -> str:
    if not status.reloads and not status.refused:
        return ""
    return f"; model reloaded {status.reloads} time(s), {status.refused} refused"


def person_watches(display: bool | None, serving: ServeOptions | None) -> bool:
    """True when frames are shown to a person: the --serve page, or a window."""
    from edgecnn.device.outputs.presenters import wants_window

    return serving is not None or wants_window(display)


def run_bench(options: BenchOptions) -> dict:
    """Print per-stage latencies (table, or one JSON object with --json); return them."""
    result = run_benchmark(options)
    print(json.dumps(result) if options.as_json else format_report(result), flush=True)
    return result
