"""`edgecnn run` and `edgecnn bench`: build the pieces from the options and run them."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from edgecnn.console import warn
from edgecnn.device.inference.postprocess import Postprocessor
from edgecnn.device.inference.preprocess import Preprocessor, keep_opencv_on_one_thread, parse_roi
from edgecnn.device.inference.runtime import load_runtime
from edgecnn.device.loop import FrameResult, Presenter, StopSignals, run_loop
from edgecnn.device.outputs.mjpeg import DEFAULT_MAX_CLIENTS, ServeOptions, serve_options
from edgecnn.device.outputs.mqtt import DEFAULT_INTERVAL, MqttOptions, mqtt_options
from edgecnn.device.sources.frames import open_source
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import model_labels
from edgecnn.sidecar import find_sidecar


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
        from edgecnn.device.outputs.mjpeg import MjpegServer

        server = MjpegServer(serving.host, serving.port, serving.token, serving.max_clients)
        add(server)
        access = "token required" if serving.token else "no token: this machine only"
        print(f"edgecnn: serving {server.url} ({access})", file=sys.stderr, flush=True)
    if publishing is not None:
        from edgecnn.device.outputs.mqtt_presenter import MqttPresenter

        add(MqttPresenter(publishing))
    if record is not None:
        add(VideoRecorder(record, fps))
    if not presenters:
        add(LabelChangePresenter())
    return presenters


def run_live(
    model: Path,
    source: str = "0",
    backend: str = "auto",
    threads: int | None = None,
    edgetpu: str = "auto",
    labels_path: Path | None = None,
    roi: str | None = None,
    invert: str = "auto",
    top_k: int = 3,
    threshold: float = 0.5,
    smooth: float = 0.0,
    as_json: bool = False,
    serve: str | None = None,
    record: Path | None = None,
    max_frames: int | None = None,
    display: bool | None = None,
    serve_token: str | None = None,
    serve_token_file: Path | None = None,
    serve_max_clients: int = DEFAULT_MAX_CLIENTS,
    mqtt: str | None = None,
    mqtt_interval: float = DEFAULT_INTERVAL,
    mqtt_password_file: Path | None = None,
    mqtt_discovery: str | None = None,
    mqtt_ca_file: Path | None = None,
    verify_hash: bool = True,
) -> None:
    """Classify frames from `source` until it ends, --max-frames, SIGINT or SIGTERM."""
    # The options first: a bad one is one line before the camera or the model is touched.
    serving = (
        serve_options(serve, serve_token, serve_token_file, serve_max_clients)
        if serve is not None
        else None
    )
    publishing = (
        mqtt_options(mqtt, mqtt_interval, mqtt_password_file, mqtt_discovery, mqtt_ca_file)
        if mqtt is not None
        else None
    )
    runtime = load_runtime(model, backend, threads, edgetpu, verify_hash)
    keep_opencv_on_one_thread()
    sidecar = find_sidecar(runtime.model_path)
    if sidecar is None:
        warn(
            f"no model.json beside {runtime.model_path}: assuming the Fashion-MNIST recipe and "
            "inputs in 0..1 (edgecnn convert writes model.json)"
        )
    preprocessor = Preprocessor(runtime.input_spec, sidecar, parse_roi(roi), invert)
    labels = model_labels(runtime.model_path, runtime.num_classes, labels_path)
    postprocessor = Postprocessor(labels, top_k, threshold, smooth)
    with (
        open_source(source) as frames,
        StopSignals(on_stop=frames.stop) as signals,
        contextlib.ExitStack() as stack,
    ):
        presenters = make_presenters(
            stack, as_json, serving, record, display, frames.fps, signals.event.set, publishing
        )
        stats = run_loop(
            frames, preprocessor, runtime, postprocessor, presenters, max_frames,
            stop=signals.event, keep_latencies=False,
        )  # fmt: skip
    how = f"stopped by {signals.signal_name}" if signals.signal_name else "done"
    print(
        f"edgecnn: {how}: {stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f} FPS), "
        f"{runtime.backend}{' + Edge TPU' if runtime.on_edgetpu else ''}",
        file=sys.stderr,
        flush=True,
    )


def run_bench(
    model: Path,
    source: str | None = None,
    frames: int = 500,
    backend: str = "auto",
    threads: int | None = None,
    edgetpu: str = "off",
    as_json: bool = False,
    verify_hash: bool = True,
) -> dict:
    """Print per-stage latencies (table, or one JSON object with --json); return them."""
    from edgecnn.device.benchmark import format_report, run_benchmark

    result = run_benchmark(model, source, frames, backend, threads, edgetpu, verify_hash)
    print(json.dumps(result) if as_json else format_report(result), flush=True)
    return result
