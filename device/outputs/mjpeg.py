"""`--serve HOST:PORT`: the annotated frames as an MJPEG stream, and a page that shows them.

    /             the page: the stream and the current label (polled from /label.json)
    /stream.mjpg  multipart/x-mixed-replace JPEG stream of the annotated frames
    /frame.jpg    the latest annotated frame
    /label.json   the state: the newest frame's record (as --json prints it) with the
                  loop's FPS and the frames served, and any field added to `state`

Nothing else is served (404). A command adds routes of its own (`get_routes`,
`post_routes`: path -> a function returning a `Reply`, routes.py): `edgecnn capture`
replaces the page with one that has a button per class and adds `POST /capture`
(device/capture/page.py). A POST must send JSON (`Content-Type: application/json`): a form
on another site cannot, and a script on another site must ask first (CORS preflight), which
this server refuses.

Who may ask (serve_access.py): beyond loopback every route needs the token (401 without it;
the page asks for it). Whatever the address, the `Host` must name this server and an
`Origin`, when sent, must be this server (403 otherwise): a page elsewhere cannot reach
the camera through DNS rebinding, nor post to it.

Safe to leave on a network (serve_limits.py, page_server.py): one thread serves every
connection (aiohttp, asyncio); a request head must be whole within 5 s of the connection
(or of the last answer on it), however slowly it trickles; a client address holds at most
16 connections (more with a larger --serve-max-clients), and when the server's connections
are all taken, a new one displaces the oldest still waiting for its head. Streams are
counted apart, only once a request for one has passed the checks: at most `max_clients`
(503 beyond). Slow viewers cost no memory: there is one latest frame, never a queue per
client, so a viewer that reads slowly sees fewer frames, and one that reads nothing for 10 s
is dropped.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.console import echo
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.device.outputs.presenters import result_record
from edgecnn.device.outputs.routes import GetRoute, PageState, PostRoute
from edgecnn.device.outputs.serve_access import require_token_beyond_loopback, serve_token
from edgecnn.errors import EdgeCnnError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_CLIENTS = 4
NO_FRAME_YET = {"frame": None, "label": None, "score": 0.0, "fps": 0.0}


def parse_serve(text: str) -> tuple[str, int]:
    """`--serve PORT`, `:PORT` or `HOST:PORT` -> (host, port); host defaults to 127.0.0.1."""
    host, _, port = str(text).rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise EdgeCnnError(f"--serve {text!r}: give HOST:PORT, e.g. 127.0.0.1:8000") from None
    if not 0 <= number <= 65535:
        raise EdgeCnnError(f"--serve {text!r}: the port must be 0..65535")
    return (host.strip("[]") or DEFAULT_HOST), number


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    token: str | None = None
    max_clients: int = DEFAULT_MAX_CLIENTS


def serve_options(
    address: str | None,
    token: str | None = None,
    token_file: str | Path | None = None,
    max_clients: int = DEFAULT_MAX_CLIENTS,
) -> ServeOptions | None:
    """Everything `--serve` needs, checked before the run starts (bad input: one line);
    None without --serve."""
    if address is None:
        return None
    host, port = parse_serve(address)
    token = serve_token(token, token_file)
    require_token_beyond_loopback(host, port, token)
    return ServeOptions(host, port, token, max_clients)


class MjpegServer(Presenter):
    """Serves the annotated frames on HOST:PORT while the run lasts.

    Beyond loopback a `token` is required; `max_clients` caps the streams at once.
    `get_routes` and `post_routes` add routes (or replace the page, "/"). `state` is what
    /label.json answers: add a field with `state.add(name, function)`.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 8000,
        token: str | None = None,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        get_routes: dict[str, GetRoute] | None = None,
        post_routes: dict[str, PostRoute] | None = None,
    ) -> None:
        require_token_beyond_loopback(host, port, token)
        if max_clients < 1:
            raise EdgeCnnError(f"--serve-max-clients {max_clients}: give 1 or more")
        try:
            from edgecnn.device.outputs.page_server import PageServer
        except ImportError as exc:
            raise EdgeCnnError(
                f"--serve needs aiohttp ({exc.name} is missing): pip install aiohttp, or on "
                "Raspberry Pi OS: sudo apt install python3-aiohttp"
            ) from None
        self.state = PageState(dict(NO_FRAME_YET))
        try:
            self.server = PageServer(
                host, port, token, max_clients, self.state, get_routes, post_routes
            )
        except OSError as exc:
            raise EdgeCnnError(f"--serve {host}:{port}: {cannot_listen(exc)}") from None
        self.state.add("frames_served", lambda: self.server.latest.served)
        self.host, self.port = self.server.host, self.server.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def present(self, result: FrameResult) -> None:
        self.show(result.annotated(), result_record(result))

    def show(self, image: np.ndarray, record: dict) -> None:
        """Serve `image` (BGR) as the newest frame, `record` as the state's frame fields."""
        self.state.publish(record)
        self.server.latest.publish(image)

    def close(self) -> None:
        self.server.close()


def cannot_listen(exc: OSError) -> str:
    """Why a server cannot listen on an address, and what to do, in a few words."""
    if isinstance(exc, socket.gaierror):
        return "no such host: give an address of this machine, or 0.0.0.0 for all of them"
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use: pick another port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine: give one of its addresses, or 0.0.0.0"
    if exc.errno == errno.EACCES:
        return "not allowed to listen there: pick a port above 1023"
    return f"cannot listen there ({exc.strerror or exc})"


def start_page_server(
    serving: ServeOptions,
    get_routes: dict[str, GetRoute] | None = None,
    post_routes: dict[str, PostRoute] | None = None,
) -> MjpegServer:
    """The one start-up of the page (run and capture): listen, then say where. The caller
    closes it."""
    server = MjpegServer(
        serving.host, serving.port, serving.token, serving.max_clients, get_routes, post_routes
    )
    access = "token required" if serving.token else "no token: this machine only"
    echo(f"edgecnn: serving {server.url} ({access})")
    return server
