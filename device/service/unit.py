"""`edgecnn service`: a hardened systemd unit that runs `edgecnn run` at boot.

The unit (`edgecnn.service` beside this module, shipped in the wheel) runs this very
installation's `edgecnn` with `--json --no-display`, so the journal gets one JSON line per
frame; `--serve HOST:PORT` adds the MJPEG page. It restarts on failure, never as root, in a
sandbox that leaves the run the camera's devices, the network, a read-only file system and
write access to the folder of `--record` only.

Secrets never enter the unit (`systemctl cat` shows it to every user): the `--serve` token
and the MQTT password (`--mqtt-password-file` among the run options) are loaded with
systemd's LoadCredential from files only root reads, and `edgecnn run` is given their paths
in the service's private credentials folder. A token given as a run option is refused.

Every value written into the unit is checked: systemd reads a unit line by line, so a line
break in a user name, a path or a run option would add a directive of its own.
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
from edgecnn.device.outputs.mqtt import PASSWORD_FILE_ENV, parse_mqtt_url
from edgecnn.device.outputs.secret_file import warn_if_exposed
from edgecnn.device.outputs.serve_access import MAKE_TOKEN, TOKEN_FILE_ENV, is_loopback
from edgecnn.errors import CONTROL, EdgeCnnError

UNIT_TEMPLATE = "edgecnn.service"
PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
# Options of `edgecnn service` itself, which it checks: not to be given again after `--`.
SERVICE_OPTIONS = ("--model", "--source", "--serve", "--serve-token-file")
# Run options naming a secret's file: loaded as a credential, given to run by environment.
CREDENTIAL_OPTIONS = {"--mqtt-password-file": ("mqtt-password", PASSWORD_FILE_ENV)}


def systemd_quote(word: str) -> str:
    """One ExecStart argument as systemd reads it back: % and $ doubled (specifiers and
    variables), double quotes around anything with spaces, quotes or backslashes."""
    word = word.replace("%", "%%").replace("$", "$$")
    if PLAIN_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_value(text: str, what: str) -> str:
    """`text` unchanged, or a one-line error when it holds a line break or another control
    character (in a unit, the rest of it would be a directive of its own)."""
    if CONTROL.search(str(text)):
        raise EdgeCnnError(
            f"{what} {str(text)!r} holds a line break or another control character, which "
            "would change the unit's meaning: remove it (rename the file if need be)"
        )
    return str(text)


def edgecnn_command() -> list[str]:
    """How to start this installation's edgecnn: its console script beside the interpreter,
    else the interpreter with -m (paths made absolute, symlinks kept: a venv's python is one)."""
    python = Path(os.path.abspath(sys.executable))
    script = python.parent / "edgecnn"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(python), "-m", "edgecnn.cli"]


def service_user(user: str | None = None) -> str:
    """The user the service runs as: `user`, else whoever asked (the user behind sudo, else
    the current one); never root, and a name that cannot carry a directive."""
    name = user if user is not None else os.environ.get("SUDO_USER") or getpass.getuser()
    unit_value(name, "--user")
    if not USER_NAME.fullmatch(name):
        raise EdgeCnnError(
            f"--user {name!r} is not a user name: give the name of a user in the video group "
            "(letters, digits, '.', '_' or '-')"
        )
    if name == "root":
        raise EdgeCnnError(
            "the service would run as root, which the camera does not need: give --user NAME, "
            "a user in the video group (such as the one who logs in)"
        )
    if not user_exists(name):
        raise EdgeCnnError(
            f"--user {name}: no such user on this machine, and systemd would refuse to start "
            "the service: give a user who exists (such as the one who logs in), or add it "
            f"first (sudo adduser {name})"
        )
    return name


def user_exists(name: str) -> bool:
    try:
        import pwd
    except ImportError:  # not a POSIX system: nothing to ask
        return True
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


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
    source, serve = options.source, options.serve
    model = Path(os.path.abspath(unit_value(options.model, "--model")))
    if not model.is_file():
        raise EdgeCnnError(f"model {model} does not exist: give the .tflite the service runs")
    unit_value(source, "--source")
    if serve is not None:
        unit_value(serve, "--serve")
    run_options, credentials, writable = unit_run_options(options.run_options, model.parent)
    credentials = serve_token_lines(serve, options.serve_token_file) + credentials
    run = [*edgecnn_command(), "run", "--model", str(model), "--source", source]
    run += ["--json", "--no-display", *run_options]
    if serve is not None:
        run += ["--serve", serve]
    template = resources.files("edgecnn.device.service").joinpath(UNIT_TEMPLATE).read_text()
    return template.format(
        model_name=model.name.replace("%", "%%"),
        user=service_user(options.user),
        workdir=str(model.parent).replace("%", "%%"),  # the rest of the line: no quotes
        command=" ".join(systemd_quote(word) for word in run),
        credentials=credentials,
        writable="".join(f"ReadWritePaths={path_value(folder)}\n" for folder in writable),
    )


def path_value(path: str | Path) -> str:
    """A path as the rest of a unit line (specifiers escaped); one with spaces is quoted."""
    text = str(path).replace("%", "%%")
    return f'"{text}"' if " " in text else text


def unit_run_options(
    run_options: tuple[str, ...], workdir: Path
) -> tuple[list[str], str, list[Path]]:
    """(the run options for ExecStart, the unit's credential lines for secret files among
    them, the folders the run writes to), refusing what must not be in a unit."""
    words, options, credentials, writable = list(run_options), [], "", []
    index = 0
    while index < len(words):
        word = unit_value(words[index], "run option")
        name, has_value, value = word.partition("=")
        takes_value = name in (*SERVICE_OPTIONS, "--serve-token", "--record", "--mqtt",
                               "--save-unsure")  # fmt: skip
        takes_value = takes_value or name in CREDENTIAL_OPTIONS
        if takes_value and not has_value and index + 1 < len(words):
            index += 1
            value = unit_value(words[index], f"{name}")
        index += 1
        if name == "--serve-token":
            raise EdgeCnnError(
                "--serve-token after --: the token would be written into the unit in clear, "
                "which every user can read (systemctl cat): give --serve-token-file FILE to "
                "edgecnn service, a file only root reads"
            )
        if name == "--display":
            raise EdgeCnnError(
                "--display after --: a service has no display (the unit runs --no-display)"
            )
        if name in SERVICE_OPTIONS:
            raise EdgeCnnError(
                f"{name} after --: give it to edgecnn service itself (before --), which checks it"
            )
        if name in CREDENTIAL_OPTIONS:
            credential, variable = CREDENTIAL_OPTIONS[name]
            credentials += credential_lines(credential, variable, Path(value), name)
            continue
        if name == "--record":
            writable.append(record_folder(Path(value), workdir))
        if name == "--save-unsure":
            writable.append(existing_folder(Path(value), workdir, name))
        if name == "--mqtt":
            parse_mqtt_url(value)  # a password in the URL is refused here, not written
        options += [word] if has_value or not takes_value else [name, value]
    return options, credentials, writable


def record_folder(record: Path, workdir: Path) -> Path:
    """The folder `--record` writes into (relative to the model's folder, the unit's working
    directory), which must exist: the sandbox lets the run write there and nowhere else."""
    folder = Path(os.path.abspath(workdir / record)).parent
    if not folder.is_dir():
        raise EdgeCnnError(
            f"--record {record}: the folder {folder} does not exist: create it first (the "
            "service may write only into folders that exist when it starts)"
        )
    return folder


def existing_folder(folder: Path, workdir: Path, option: str) -> Path:
    """A folder the run writes into (relative to the model's folder), which must exist."""
    path = Path(os.path.abspath(workdir / folder))
    if not path.is_dir():
        raise EdgeCnnError(
            f"{option} {folder}: the folder {path} does not exist: create it first (the "
            "service may write only into folders that exist when it starts)"
        )
    return path


def credential_lines(credential: str, variable: str, file: Path, option: str) -> str:
    """LoadCredential for a secret's file, and the variable that gives run its path."""
    path = os.path.abspath(file)
    if not Path(path).is_file():
        raise EdgeCnnError(f"{option} {path} does not exist: write the secret there")
    warn_if_exposed(path, option)  # systemd reads it as root: it should be root's alone
    return (
        f"LoadCredential={credential}:{path.replace('%', '%%')}\n"
        f"Environment={variable}=%d/{credential}\n"
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
    unit_value(token_file, "--serve-token-file")
    return credential_lines("serve-token", TOKEN_FILE_ENV, token_file, "--serve-token-file")


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
