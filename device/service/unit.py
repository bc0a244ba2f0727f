"""`edgecnn service`: a systemd unit that runs `edgecnn run` at boot.

The unit (`edgecnn.service` beside this module, shipped in the wheel) runs this very
installation's `edgecnn` with `--json --no-display`, so the journal gets one JSON line per
frame; `--serve HOST:PORT` adds the MJPEG page. It restarts on failure.

A page served beyond loopback needs a token (`edgecnn.device.outputs.serve_access`): the unit loads
it with systemd's LoadCredential from a file only root reads, and hands `edgecnn run` its
path in the service's private credentials folder, so the token is never in the unit.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgecnn.atomic import atomic_write_text
from edgecnn.console import echo
from edgecnn.device.outputs.mjpeg import parse_serve
from edgecnn.device.outputs.serve_access import MAKE_TOKEN, TOKEN_FILE_ENV, is_loopback
from edgecnn.errors import EdgeCnnError

UNIT_TEMPLATE = "edgecnn.service"
PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def systemd_quote(word: str) -> str:
    """One ExecStart argument as systemd reads it back: % and $ doubled (specifiers and
    variables), double quotes around anything with spaces, quotes or backslashes."""
    word = word.replace("%", "%%").replace("$", "$$")
    if PLAIN_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def edgecnn_command() -> list[str]:
    """How to start this installation's edgecnn: its console script beside the interpreter,
    else the interpreter with -m (paths made absolute, symlinks kept: a venv's python is one)."""
    python = Path(os.path.abspath(sys.executable))
    script = python.parent / "edgecnn"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(python), "-m", "edgecnn.cli"]


def service_user() -> str:
    """Whoever asked: the user behind sudo, else the current one."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


@dataclass(frozen=True)
class ServiceOptions:
    """What `edgecnn service` is asked for: the run it starts, and where the unit goes."""

    model: Path
    source: str = "0"
    serve: str | None = None
    user: str | None = None
    out: Path | None = None  # None: stdout
    serve_token_file: Path | None = None
    run_options: tuple[str, ...] = ()  # more `edgecnn run` options


def run_service(options: ServiceOptions) -> None:
    """Print the unit, or write it to `options.out`."""
    write_unit(render_unit(options), options.out)


def render_unit(options: ServiceOptions) -> str:
    """The unit's text for `edgecnn run --model MODEL --source SOURCE --json --no-display`."""
    source, serve, user = options.source, options.serve, options.user
    model = Path(os.path.abspath(options.model))
    if not model.is_file():
        raise EdgeCnnError(f"model {model} does not exist: give the .tflite the service runs")
    token_lines = serve_token_lines(serve, options.serve_token_file)
    run = [*edgecnn_command(), "run", "--model", str(model), "--source", source]
    run += ["--json", "--no-display", *options.run_options]
    if serve is not None:
        run += ["--serve", serve]
    template = resources.files("edgecnn.device.service").joinpath(UNIT_TEMPLATE).read_text()
    return template.format(
        model_name=model.name,
        user=user or service_user(),
        workdir=str(model.parent).replace("%", "%%"),  # the rest of the line: no quotes
        command=" ".join(systemd_quote(word) for word in run),
        serve_token=token_lines,
    )


def serve_token_lines(serve: str | None, token_file: Path | None) -> str:
    """The unit's lines that give `edgecnn run` its --serve token (none on loopback)."""
    if token_file is None:
        if serve is not None and not is_loopback(parse_serve(serve)[0]):
            raise EdgeCnnError(
                f"--serve {serve} listens beyond this machine, which needs a token: give "
                "--serve-token-file FILE, a file only root reads holding one (make it with "
                f"{MAKE_TOKEN})"
            )
        return ""
    path = os.path.abspath(token_file)
    if not Path(path).is_file():
        raise EdgeCnnError(f"--serve-token-file {path} does not exist: write the token there")
    return (
        f"LoadCredential=serve-token:{path.replace('%', '%%')}\n"
        f"Environment={TOKEN_FILE_ENV}=%d/serve-token\n"
    )


def write_unit(text: str, out: Path | None) -> None:
    """Print the unit, or write it to `out` whole (a unit half-written would not load)."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        atomic_write_text(out, text)
    except PermissionError:
        raise EdgeCnnError(
            f"cannot write {out}: run the command with sudo, or write the unit elsewhere and "
            "'sudo cp' it to /etc/systemd/system/"
        ) from None
    echo(
        f"edgecnn: wrote {out}: sudo systemctl daemon-reload && sudo systemctl enable --now "
        f"{out.stem}"
    )
