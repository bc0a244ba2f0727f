"""The `edgecnn` command: parses options and calls one function per sub-command.

Each command imports its stage lazily, so `edgecnn run` on a Raspberry Pi never loads
TensorFlow and `edgecnn --help` is instant. Work lives in the stage packages: each command
builds its stage's options record from click's values and calls one function with it.

An option two commands share is declared once below (an option or a group of options);
choices and defaults that the code defines (backend names, --invert modes, the server's
client cap) are read from the stage's own constant when click first needs them, so that
importing this module imports no stage.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from edgecnn import __version__
from edgecnn.backends import BACKEND_CHOICES, KERNELS
from edgecnn.console import warn
from edgecnn.errors import EdgeCnnError, one_line
from edgecnn.native_output import debugging

PathArg = click.Path(path_type=Path)
Decorator = Callable[[Callable], Callable]


@dataclass(frozen=True)
class Constant:
    """A stage module's constant, read when click first needs it (a command's help or its
    parsing); as a default, --help shows its value."""

    module: str
    name: str

    def __call__(self):
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:  # an extra not installed: one line, not a traceback
            raise EdgeCnnError(
                f"{exc.name or exc} is not installed, and this command needs it: "
                "pip install 'edgecnn[device]' (run, bench, capture) or 'edgecnn[train]'"
            ) from None
        return getattr(module, self.name)

    def __str__(self) -> str:
        return str(self())


class ChoiceOf(click.Choice):
    """A click.Choice among fixed names and the names of `Constant`s, read when first needed."""

    def __init__(self, *parts: str | Constant) -> None:
        self._parts = parts
        self._names: tuple[str, ...] | None = None
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(
                name
                for part in self._parts
                for name in (part() if isinstance(part, Constant) else (part,))
            )
        return self._names

    @choices.setter
    def choices(self, _ignored) -> None:  # click.Choice.__init__ assigns them
        pass


INVERT_MODES = Constant("edgecnn.device.inference.preprocess", "INVERT_CHOICES")
MAX_CLIENTS = Constant("edgecnn.device.outputs.mjpeg", "DEFAULT_MAX_CLIENTS")
STRATEGIES = Constant("edgecnn.train.strategy", "STRATEGIES")
CONVERT_INPUT_TYPES = Constant("edgecnn.convert.command", "INPUT_TYPES")
CONVERT_OUTPUT_TYPES = Constant("edgecnn.convert.command", "OUTPUT_TYPES")
ACTIVATIONS = Constant("edgecnn.convert.command", "ACTIVATIONS")
STABLE_FRAMES = Constant("edgecnn.device.inference.stable", "DEFAULT_STABLE_FRAMES")
UNSURE_EVERY = Constant("edgecnn.device.outputs.unsure", "DEFAULT_UNSURE_EVERY")
EDGETPU_MODES = ("on", "auto", "off")
SOURCE_HELP = "Camera index, /dev/videoN, file, folder, URL or 'picamera'."


def option_group(*options: Decorator) -> Decorator:
    """Several options applied as one decorator, in the order --help lists them."""

    def apply(function: Callable) -> Callable:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


# ---------------------------------------------------------------- options shared by commands

verify_hash_option = click.option(
    "--verify-hash/--no-verify-hash",
    default=True,
    show_default=True,
    help="Refuse a .tflite whose SHA-256 is not the one convert wrote into model.json.",
)

self_check_option = click.option(
    "--self-check/--no-self-check",
    default=True,
    show_default=True,
    help="Refuse a runtime that computes model.json's golden vectors wrong (checked at "
    "start-up; a model without them: random inputs against the NumPy reference).",
)

data_dir_option = click.option(
    "--data-dir", type=PathArg, default=None, help="Folder with the Fashion-MNIST IDX files."
)


def model_option(help: str = "The .tflite model (model.json beside it).") -> Decorator:
    return click.option("--model", type=PathArg, required=True, help=help)


def source_option(default: str | None = "0", help: str = SOURCE_HELP) -> Decorator:
    return click.option("--source", default=default, show_default=default is not None, help=help)


def json_option(help: str) -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


interpreter_options = option_group(
    click.option(
        "--backend",
        type=click.Choice(BACKEND_CHOICES),
        default="auto",
        show_default=True,
        help="Interpreter: a TFLite runtime, or reference (NumPy only; auto falls back to it).",
    ),
    click.option(
        "--kernels",
        type=click.Choice(KERNELS),
        default="optimized",
        show_default=True,
        help="TFLite's optimized kernels, or its reference kernels (bit-exact to verify's).",
    ),
    click.option(
        "--threads", type=click.IntRange(min=1), default=None, help="Interpreter threads."
    ),
    click.option(
        "--edgetpu",
        type=click.Choice(EDGETPU_MODES),
        default="auto",
        show_default=True,
        help="Coral Edge TPU: on (required), auto (when a *_edgetpu.tflite is beside the "
        "model), off.",
    ),
)
"""--backend, --kernels, --threads and --edgetpu: how the model runs (run and bench alike)."""


view_options = option_group(
    click.option(
        "--roi", default=None, help="Region of interest x,y,w,h in pixels (default: centre square)."
    ),
    click.option(
        "--invert",
        type=ChoiceOf(INVERT_MODES),
        default="auto",
        show_default=True,
        help="Dark objects on light ground: on, off, or auto (per frame).",
    ),
)
"""--roi and --invert: what part of the frame the model sees, and which way round."""

pace_options = option_group(
    click.option(
        "--pace",
        default="auto",
        show_default=True,
        metavar="auto|realtime|fast|FPS",
        help="A file's pace: realtime (its own frame rate; auto: when a window or --serve "
        "shows it), fast, or frames per second.",
    ),
    click.option("--loop", is_flag=True, help="Play a file source again and again."),
)
"""--pace and --loop: how a file source plays (run and capture)."""

display_option = click.option(
    "--display/--no-display", default=None, help="Show a window (default: when a display exists)."
)


def serve_option(help: str) -> Decorator:
    return click.option("--serve", default=None, metavar="HOST:PORT", help=help)


serve_access_options = option_group(
    click.option(
        "--serve-token",
        envvar="EDGECNN_SERVE_TOKEN",
        show_envvar=True,
        default=None,
        help="Token the --serve page and stream ask for (required beyond loopback).",
    ),
    click.option(
        "--serve-token-file",
        envvar="EDGECNN_SERVE_TOKEN_FILE",
        show_envvar=True,
        type=PathArg,
        default=None,
        help="File holding the --serve token (instead of --serve-token).",
    ),
    click.option(
        "--serve-max-clients",
        type=click.IntRange(min=1),
        default=MAX_CLIENTS,
        show_default=True,
        help="Streams at once; more viewers get 503.",
    ),
)
"""--serve-token, --serve-token-file and --serve-max-clients: who may see a --serve page."""


def warn_if_token_on_command_line() -> None:
    """--serve-token typed as an option: every user sees it in `ps`, the shell keeps it."""
    source = click.get_current_context().get_parameter_source("serve_token")
    if source is click.core.ParameterSource.COMMANDLINE:
        warn(
            "--serve-token on the command line is visible to every user of this machine (ps) "
            "and stays in your shell's history: put it in a file only you read "
            "(--serve-token-file FILE) or in $EDGECNN_SERVE_TOKEN"
        )


# The commands in the order they are used: your images, the model, its proof, the device.
PIPELINE_ORDER = (
    "capture", "train", "convert", "verify", "explain", "doctor", "run", "bench", "service",
)  # fmt: skip


class PipelineGroup(click.Group):
    """`edgecnn --help` lists the commands in PIPELINE_ORDER, not A to Z (others after)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        ordered = [name for name in PIPELINE_ORDER if name in self.commands]
        return ordered + sorted(name for name in self.commands if name not in PIPELINE_ORDER)


@click.group(cls=PipelineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgecnn")
def cli() -> None:
    """Train a small CNN, quantise it to full int8 TFLite, prove it right, run it on a camera.

    The usual path: edgecnn train, edgecnn convert out/model.keras, edgecnn verify
    out/model.tflite, edgecnn run --model out/model.tflite. For your own objects, edgecnn
    capture first, then train --images. `edgecnn COMMAND --help` tells more.
    """


@cli.command(short_help="Train a CNN on Fashion-MNIST or on your own images.")
@click.option(
    "--preset", default=None, help="Model preset: tiny (about a minute) or default (accuracy)."
)
@click.option(
    "--config", "config_path", type=PathArg, default=None, help="Model/training config TOML."
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the epochs.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Override the batch size."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use only the first N training images.",
)
@click.option("--seed", type=int, default=None, help="Random seed (default from the config).")
@data_dir_option
@click.option(
    "--images", "image_dir", type=PathArg, default=None, help="Train on DIR/<class>/*.png instead."
)
@click.option("--out", type=PathArg, default=None, help="Output folder.  [default: out]")
@click.option(
    "--strategy",
    type=ChoiceOf(STRATEGIES),
    default="default",
    show_default=True,
    help="tf.distribute strategy (multiworker: the cluster from TF_CONFIG or --workers).",
)
@click.option(
    "--workers",
    default=None,
    metavar="HOST:PORT,...",
    help="Multi-worker cluster, the same list on every worker (builds TF_CONFIG).",
)
@click.option(
    "--worker-index",
    type=click.IntRange(min=0),
    default=None,
    help="This worker's place in --workers (0 is the chief).",
)
@click.option(
    "--resume",
    type=PathArg,
    default=None,
    metavar="OUT",
    help="Continue the interrupted run in OUT from its last finished epoch.",
)
@click.option(
    "--augment/--no-augment",
    default=None,
    help="The config's augmentation on or off (both presets: off). On: shifts of 2 pixels and "
    "horizontal flips, and the erasing, mixup or camera variation a --config sets.",
)
@click.option(
    "--base",
    type=PathArg,
    default=None,
    metavar="MODEL.keras",
    help="Fine-tune: reuse this model's conv blocks (frozen) with a new head (needs --images).",
)
@click.option(
    "--unfreeze-epochs",
    type=click.IntRange(min=0),
    default=None,
    help="With --base: epochs that then train the convolutions too, at a low learning rate.",
)
def train(**values) -> None:
    """Train a CNN on Fashion-MNIST or your images: writes model.keras, labels, config, report, plots."""
    from edgecnn.train.command import TrainOptions, run_train

    run_train(TrainOptions(**values))


@cli.command(short_help="Quantise a Keras model to a full-int8 .tflite and its model.json.")
@click.argument("model", type=PathArg)
@click.option("--out", type=PathArg, default=None, help="Output .tflite (default: beside MODEL).")
@click.option(
    "--calibration-samples", type=click.IntRange(min=1), default=None, help="Representative images."
)
@click.option(
    "--input-type",
    type=ChoiceOf(CONVERT_INPUT_TYPES),
    default=None,
    help="Model input type [default: uint8; int16 with --activations int16].",
)
@click.option(
    "--output-type",
    type=ChoiceOf(CONVERT_OUTPUT_TYPES),
    default=None,
    help="Model output type [default: int8; int16 with --activations int16].",
)
@click.option(
    "--activations",
    type=ChoiceOf(ACTIVATIONS),
    default="int8",
    show_default=True,
    help="int16: TFLite's 16x8 mode (int16 activations, int8 weights): more accurate, "
    "larger activations, no Edge TPU.",
)
@data_dir_option
@click.option(
    "--edgetpu", is_flag=True, help="Convert for the Coral Edge TPU and run edgetpu_compiler."
)
@click.option("--allow-float", is_flag=True, help="Accept float ops left in the graph.")
@click.option(
    "--eval-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Measure accuracy on the first N test images (default: all).",
)
def convert(**values) -> None:
    """Quantise MODEL (.keras or SavedModel dir) to a fully-int8 .tflite with its model.json."""
    from edgecnn.convert.command import ConvertOptions, run_convert

    run_convert(ConvertOptions(**values))


@cli.command(short_help="Prove a .tflite against the NumPy reference; measure its accuracy.")
@click.argument("model", type=PathArg)
@click.option(
    "--keras",
    "keras_model",
    type=PathArg,
    default=None,
    help="The float model, for float accuracy (default: the one convert made MODEL from, "
    "when it is beside it).",
)
@data_dir_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Use the first N test images."
)
@click.option(
    "--inputs",
    default="dataset",
    show_default=True,
    help="dataset (the model's test images: its own, found through the train_report.json "
    "beside it, else Fashion-MNIST's), random (every input, values valid for its type), or "
    "FILE.npy/.npz/.csv with your own raw input values, one array per model input.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=None,
    help="With --inputs random: how many (default 1000). For test images, --limit.",
)
@click.option(
    "--save-outputs",
    type=PathArg,
    default=None,
    help="Write the NumPy reference's raw outputs to OUT.npz (output_0, output_1, ...).",
)
@click.option(
    "--engines",
    default=None,
    help="Engines to run and compare, comma-separated: numpy, reference (TFLite's reference "
    "kernels), optimized (its default kernels, what run uses), micro (TFLite Micro, "
    "pip install 'edgecnn[micro]'). Default numpy,reference,optimized.",
)
@click.option(
    "--max-drop", type=float, default=1.0, show_default=True, help="Allowed accuracy drop, points."
)
@json_option("Print one JSON object.")
@click.option(
    "--report", "report_dir", type=PathArg, default=None, help="Write report JSON and plots here."
)
@verify_hash_option
def verify(**values) -> None:
    """Prove MODEL.tflite: NumPy reference vs TFLite reference and optimized kernels, accuracy."""
    from edgecnn.convert.verify import VerifyOptions, run_verify

    run_verify(VerifyOptions(**values))


@cli.command(
    short_help="Classify live frames from a camera, a video, images or a stream.",
    context_settings={"ignore_unknown_options": False},
)
@model_option()
@source_option()
@pace_options
@interpreter_options
@click.option(
    "--labels", "labels_path", type=PathArg, default=None, help="Label file (overrides model.json)."
)
@view_options
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Classes listed per frame, best first (--json's 'top', the window).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Below: 'unsure'.",
)
@click.option(
    "--smooth",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="EMA factor of past scores.",
)
@click.option(
    "--stable",
    type=click.IntRange(min=1),
    default=STABLE_FRAMES,
    show_default=True,
    help="Frames in a row that must agree before the stable state (MQTT, the page) changes; "
    "1 follows every frame.",
)
@json_option("One JSON line per frame on stdout.")
@serve_option("An MJPEG stream and page (host defaults to 127.0.0.1).")
@click.option("--record", type=PathArg, default=None, help="Write the annotated video here.")
@click.option(
    "--max-frames",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many frames (default: at the end of the source, or Ctrl-C).",
)
@display_option
@serve_access_options
@click.option(
    "--mqtt",
    default=None,
    metavar="URL",
    help="Publish results to mqtt[s]://[user@]host[:port]/topic/prefix "
    "(password: $EDGECNN_MQTT_PASSWORD or --mqtt-password-file).",
)
@click.option(
    "--mqtt-interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between messages while the label stays the same.",
)
@click.option(
    "--mqtt-password-file",
    envvar="EDGECNN_MQTT_PASSWORD_FILE",
    show_envvar=True,
    type=PathArg,
    default=None,
    help="File holding the MQTT password.",
)
@click.option(
    "--mqtt-discovery",
    is_flag=False,
    flag_value="homeassistant",
    default=None,
    metavar="[PREFIX]",
    help="Announce the sensors to Home Assistant (discovery prefix, default homeassistant).",
)
@click.option(
    "--mqtt-ca-file", type=PathArg, default=None, help="CA certificate (PEM) of an mqtts:// broker."
)
@click.option(
    "--save-unsure",
    type=PathArg,
    default=None,
    metavar="DATASET",
    help="Save frames scored below --threshold into DATASET/.unlabelled/, with the model's "
    "guess, to label on the capture page (edgecnn capture --review).",
)
@click.option(
    "--unsure-every",
    type=click.FloatRange(min=0),
    default=UNSURE_EVERY,
    show_default=True,
    help="Seconds between two unsure frames saved.",
)
@click.option(
    "--reload/--no-reload",
    default=True,
    show_default=True,
    help="Take a new model (its files changed, or SIGHUP) between two frames, once it passes "
    "the start-up checks.",
)
@verify_hash_option
@self_check_option
def run(**values) -> None:
    """Classify live frames from a camera, video, images or stream."""
    from edgecnn.device.command import RunOptions, run_live

    warn_if_token_on_command_line()
    run_live(RunOptions(**values))


@cli.command(short_help="Save labelled images from a camera, as the model will see them.")
@click.option(
    "--out", type=PathArg, required=True, help="The data set folder (DATASET/<label>/*.png)."
)
@source_option()
@pace_options
@click.option("--label", default=None, help="Save every --every'th frame as this class.")
@click.option(
    "--labels",
    default=None,
    metavar="A,B,C",
    help="Classes to save on demand: number keys + space in the window, buttons on --serve.",
)
@click.option(
    "--every", type=click.IntRange(min=1), default=1, show_default=True, help="With --label."
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Stop after this many saved."
)
@view_options
@click.option(
    "--keep-duplicates", is_flag=True, help="Also save frames that look like the last one saved."
)
@serve_option("A page with the live view and a button per class.")
@serve_access_options
@display_option
@click.option(
    "--review",
    is_flag=True,
    help="No camera: a --serve page to label the frames run --save-unsure kept in --out.",
)
def capture(**values) -> None:
    """Save labelled images from a camera as the model will see them: DATASET/<label>/."""
    from edgecnn.device.capture.command import CaptureOptions, run_capture

    warn_if_token_on_command_line()
    run_capture(CaptureOptions(**values))


@cli.command(short_help="Time each stage of the live loop, and the bare inference.")
@model_option(help="The .tflite model.")
@source_option(
    default=None, help="Frame source (default: generated 640x480, 1280x720 and 1920x1080 frames)."
)
@click.option(
    "--frames",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Frames to time (after a warm-up).",
)
@interpreter_options
@json_option("Print one JSON object.")
@verify_hash_option
@self_check_option
def bench(**values) -> None:
    """Per-stage latency of the live loop, and the bare invoke() time for comparison."""
    from edgecnn.device.command import BenchOptions, run_bench

    run_bench(BenchOptions(**values))


@cli.command(
    short_help="Write a systemd unit that runs edgecnn run at boot.",
    context_settings={"ignore_unknown_options": True},
)
@model_option(help="The .tflite model the service runs.")
@source_option(help="Its --source (e.g. picamera, 0, a URL).")
@serve_option("The MJPEG page (e.g. 0.0.0.0:8080).")
@click.option("--user", default=None, help="The user it runs as (default: you, or sudo's caller).")
@click.option("--out", type=PathArg, default=None, help="Write the unit here (default: stdout).")
@click.option(
    "--serve-token-file",
    type=PathArg,
    default=None,
    help="A root-only file holding the --serve token (needed beyond loopback).",
)
@click.argument("run_options", nargs=-1, type=click.UNPROCESSED)
def service(**values) -> None:
    """A systemd unit running `edgecnn run ... --json` at boot; RUN_OPTIONS go to edgecnn run."""
    from edgecnn.device.service.unit import ServiceOptions, run_service

    options = ServiceOptions(**values)
    run.make_context("run", ["--model", str(options.model), *options.run_options])  # fail now
    run_service(options)


@cli.command(short_help="Draw what the CNN sees: filters, feature maps, pooling, scores.")
@click.option(
    "--model",
    "models",
    type=PathArg,
    multiple=True,
    required=True,
    help=".tflite and/or .keras (repeat for side by side).",
)
@click.option("--image", type=PathArg, default=None, help="An image file as the input.")
@click.option(
    "--test-index", type=click.IntRange(min=0), default=None, help="A test image as the input."
)
@source_option(default=None, help="A video or camera frame as the input (see --frame).")
@click.option(
    "--frame",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="With --source: which frame (0 is the first).",
)
@data_dir_option
@click.option(
    "--out",
    type=PathArg,
    default=Path("out/explain"),
    show_default=True,
    help="Folder for the pictures, maps.npz and index.html.",
)
@verify_hash_option
def explain(**values) -> None:
    """Pictures of what the CNN sees: input, filters, feature maps, pooling, scores."""
    from edgecnn.explain.command import ExplainOptions, run_explain

    run_explain(ExplainOptions(**values))


@cli.command(short_help="Check what works on this machine for run, capture and bench.")
@click.option("--model", type=PathArg, default=None, help="Check it too: hash, input, one run.")
@source_option(default=None, help="Check that this source opens and gives a frame.")
@interpreter_options
@click.option("--display", is_flag=True, help="Check that a window can be shown.")
@json_option("Print one JSON object.")
def doctor(**options) -> None:
    """What works here for run, capture and bench, what is missing, and the fix for each."""
    from edgecnn.device.doctor import run_doctor

    run_doctor(**options)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors with exit code 2 for mistakes a user can cause."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    try:
        cli.main(args=argv, prog_name="edgecnn", standalone_mode=False)
    except EdgeCnnError as exc:
        click.echo(f"edgecnn: error: {one_line(str(exc))}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("edgecnn: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("edgecnn: interrupted", err=True)
        return 130
    except OSError as exc:
        # A file the system would not read or write (read-only, full, gone) that no check
        # foresaw: still one line, naming the file. EDGECNN_DEBUG=1 shows the traceback.
        if debugging():
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc} (EDGECNN_DEBUG=1 shows where)"
        click.echo(f"edgecnn: error: {one_line(message)}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
