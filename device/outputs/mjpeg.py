"""`--serve HOST:PORT`: the annotated frames as an MJPEG stream, and a page that shows them.

    /             the page: the stream and the current label (polled from /label.json)
    /stream.mjpg  multipart/x-mixed-replace JPEG stream of the annotated frames
    /frame.jpg    the latest annotated frame
    /label.json   the latest prediction, FPS, and how many frames have been served

Nothing else is served (404). Beyond loopback every route needs the token
(`serve_access`); without it the answer is 401, and the page asks for it.

The routes are tables (`GET_ROUTES`, and per server `extra_get`/`extra_post`: path ->
function of the request handler), so a command adds its own: `edgecnn capture` replaces the
page with one that has a button per class and adds `POST /capture` (device/capture/page.py).
A POST must send JSON (`Content-Type: application/json`): a form on another site cannot,
and a script on another site must ask first (CORS preflight), which this server refuses.

The server is safe to leave on a network: at most `max_clients` streams at once and
`2 * max_clients` connections in all (the page polls /label.json beside its stream). A
connection over the limit is answered 503 by the accepting thread itself, before any thread
is made for it. A client that sends nothing, or takes no data, for `REQUEST_TIMEOUT` seconds
is dropped. Slow viewers cost no memory: there is one latest frame, never a queue per
client, so a viewer that reads slowly simply sees fewer frames.

The loop thread only hands over the latest annotated frame; JPEG encoding happens in the
request threads, once per frame however many watch, outside the lock the loop takes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edgecnn.console import warn
from edgecnn.device.loop import FrameResult, Presenter
from edgecnn.device.outputs.serve_access import (
    TokenCheck,
    require_token_beyond_loopback,
    serve_token,
)
from edgecnn.errors import EdgeCnnError, first_line

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_CLIENTS = 4
BOUNDARY = "edgecnnframe"
JPEG_QUALITY = 80
REQUEST_TIMEOUT = 10.0
MAX_POST_BYTES = 4096
LINGER_SECONDS = 1.0  # a refused socket stays open this long, so the client reads its 503
MAX_LINGERING = 64
BUSY_BODY = b"busy: too many viewers; try again later\n"
BUSY_RESPONSE = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(BUSY_BODY), BUSY_BODY)
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecnn live</title>
<style>
body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.5em; }
#label { font-size: 2.2em; margin: 0.2em 0; }
#detail { color: #aaa; margin: 0 0 0.8em 0; }
img { max-width: 100%; border: 1px solid #444; background: #000; }
</style></head>
<body>
<h1 id="label">waiting for frames…</h1>
<p id="detail"></p>
<img id="stream" alt="live view" width="640" height="480">
<script>
// The stream starts after the page's load event, so the page counts as loaded at once.
window.addEventListener("load", () => {
  document.getElementById("stream").src = "/stream.mjpg";
});
async function poll() {
  try {
    const response = await fetch("/label.json", {cache: "no-store"});
    const d = await response.json();
    if (d.frame !== null) {
      document.getElementById("label").textContent = d.label;
      document.getElementById("detail").textContent =
        `score ${(100 * d.score).toFixed(0)}% · frame ${d.frame} · ${d.fps.toFixed(1)} FPS`;
    }
  } catch (e) { /* the run ended; keep the last label */ }
  setTimeout(poll, 250);
}
poll();
</script>
</body></html>
"""

TOKEN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecnn: token</title>
<style>body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.5em; }</style>
</head><body>
<h1>This camera needs its token</h1>
<p>It is the value of <code>--serve-token</code>, <code>$EDGECNN_SERVE_TOKEN</code> or the
<code>--serve-token-file</code> on the device.</p>
<form method="get" action="/"><input name="token" type="password" size="40" autofocus>
<button>Open</button></form>
</body></html>
"""


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
    address: str,
    token: str | None = None,
    token_file: str | Path | None = None,
    max_clients: int = DEFAULT_MAX_CLIENTS,
) -> ServeOptions:
    """Everything `--serve` needs, checked before the run starts (bad input: one line)."""
    host, port = parse_serve(address)
    token = serve_token(token, token_file)
    require_token_beyond_loopback(host, port, token)
    return ServeOptions(host, port, token, max_clients)


class _LatestFrame:
    """The newest annotated frame and its JPEG, encoded on first request."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.sequence = 0
        self.image: np.ndarray | None = None
        self.info: dict = {"frame": None, "label": None, "score": 0.0, "fps": 0.0}
        self.frames_served = 0
        self.closing = False
        self._encode_lock = threading.Lock()
        self._jpeg: bytes | None = None
        self._jpeg_sequence = -1

    def publish(self, image: np.ndarray, info: dict) -> None:
        with self.condition:
            self.image, self.info = image, info
            self.sequence += 1
            self.condition.notify_all()

    def jpeg_after(self, sequence: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """Wait for a frame newer than `sequence`; return (its sequence, its JPEG)."""
        with self.condition:
            if not self.condition.wait_for(
                lambda: self.sequence > sequence or self.closing, timeout
            ):
                return sequence, None
            if self.closing or self.image is None:
                return sequence, None
            newest, image = self.sequence, self.image
        with self._encode_lock:  # one encoding per frame, and the loop never waits for it
            if self._jpeg_sequence < newest:
                ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                self._jpeg, self._jpeg_sequence = (buffer.tobytes() if ok else None), newest
            return self._jpeg_sequence, self._jpeg

    def count_served(self) -> None:
        with self.condition:
            self.frames_served += 1

    def close(self) -> None:
        with self.condition:
            self.closing = True
            self.condition.notify_all()


class _Handler(BaseHTTPRequestHandler):
    """The routes (GET_ROUTES: path -> method name) behind the token check."""

    server_version = "edgecnn"
    timeout = REQUEST_TIMEOUT
    server: _CappedHttpServer

    def log_message(self, format: str, *args: object) -> None:  # quiet: stdout carries JSON
        pass

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, headers: dict | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, value: object, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _authorised(self, path: str, query: dict) -> bool:
        """True when the request may go on; else the 401 (the token page for /) is sent."""
        check = self.server.token_check
        if check is None or check.accepts(query, self.headers):
            return True
        if path == "/":
            body, kind = TOKEN_PAGE.encode("utf-8"), "text/html; charset=utf-8"
        else:
            body, kind = b"this edgecnn needs its token: open / to give it\n", "text/plain"
        self._send(HTTPStatus.UNAUTHORIZED, body, kind, {"WWW-Authenticate": "Bearer"})
        return False

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not self._authorised(url.path, query):
            return
        check = self.server.token_check
        if check is not None and url.path == "/" and "token" in query:
            # The token, typed once, becomes a cookie; the address bar loses it.
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain",
                       {"Location": "/", "Set-Cookie": check.set_cookie()})  # fmt: skip
            return
        route = self.server.get_routes.get(url.path)
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        route(self)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if not self._authorised(url.path, parse_qs(url.query)):
            return
        route = self.server.post_routes.get(url.path)
        if route is None:
            known = url.path in self.server.get_routes
            status = HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND
            allow = {"Allow": "GET"} if known else None
            self._send(status, f"{status.phrase.lower()}\n".encode(), "text/plain", allow)
            return
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            self.send_json({"error": "send JSON (Content-Type: application/json)"},
                           HTTPStatus.UNSUPPORTED_MEDIA_TYPE)  # fmt: skip
            return
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            self.send_json({"error": "Content-Length needed"}, HTTPStatus.LENGTH_REQUIRED)
            return
        if not 0 <= length <= MAX_POST_BYTES:
            self.send_json({"error": "too long"}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self.send_json({"error": "the body is not JSON"}, HTTPStatus.BAD_REQUEST)
            return
        route(self, body)

    def send_page(self, text: str) -> None:
        self._send(HTTPStatus.OK, text.encode("utf-8"), "text/html; charset=utf-8")

    def page(self) -> None:
        self.send_page(PAGE)

    def label(self) -> None:
        latest = self.server.latest
        info = dict(latest.info, frames_served=latest.frames_served)
        self._send(HTTPStatus.OK, json.dumps(info).encode(), "application/json")

    def frame(self) -> None:
        latest = self.server.latest
        _, jpeg = latest.jpeg_after(max(0, latest.sequence - 1), timeout=5.0)
        if jpeg is None:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain")
        else:
            self._send(HTTPStatus.OK, jpeg, "image/jpeg")

    def stream(self) -> None:
        streams = self.server.streams
        if not streams.acquire(blocking=False):
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, BUSY_BODY, "text/plain",
                       {"Retry-After": "5"})  # fmt: skip
            return
        try:
            self._stream_frames()
        finally:
            streams.release()

    def _stream_frames(self) -> None:
        latest = self.server.latest
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sequence = max(0, latest.sequence - 1)
        # Always the newest frame: a slow viewer skips frames, nothing queues up for it.
        while not latest.closing:
            sequence, jpeg = latest.jpeg_after(sequence)
            if jpeg is None:
                continue
            self.wfile.write(
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
            )
            self.wfile.write(jpeg)
            self.wfile.write(b"\r\n")
            self.wfile.flush()
            latest.count_served()


GetRoute = Callable[[_Handler], None]
PostRoute = Callable[[_Handler, object], None]  # the handler and the request's JSON body

GET_ROUTES: dict[str, GetRoute] = {
    "/": _Handler.page,
    "/stream.mjpg": _Handler.stream,
    "/frame.jpg": _Handler.frame,
    "/label.json": _Handler.label,
}


class _CappedHttpServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that makes at most `max_connections` request threads."""

    daemon_threads = True
    request_queue_size = 64  # a burst of connections waits for accept(), not for SYN retries

    def __init__(
        self,
        address: tuple[str, int],
        latest: _LatestFrame,
        token_check: TokenCheck | None,
        max_clients: int,
        extra_get: dict[str, GetRoute] | None = None,
        extra_post: dict[str, PostRoute] | None = None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.latest = latest
        self.token_check = token_check
        self.get_routes = {**GET_ROUTES, **(extra_get or {})}
        self.post_routes = dict(extra_post or {})
        self.streams = threading.BoundedSemaphore(max_clients)
        self.connections = threading.BoundedSemaphore(2 * max_clients)
        self.refused = 0
        self._lingering: deque[tuple[float, socket.socket]] = deque()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        if not self.connections.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()

    def _refuse(self, request: socket.socket) -> None:
        """503 from the accepting thread: the answer fits the socket's buffer, so nothing
        blocks; the socket lingers a moment so the client can read it before the close."""
        self.refused += 1
        try:
            request.setblocking(False)
            request.sendall(BUSY_RESPONSE)
            request.shutdown(socket.SHUT_WR)
        except OSError:
            request.close()
            return
        self._lingering.append((time.monotonic(), request))
        self._close_lingering()

    def _close_lingering(self, everything: bool = False) -> None:
        now = time.monotonic()
        while self._lingering and (
            everything
            or len(self._lingering) > MAX_LINGERING
            or now - self._lingering[0][0] > LINGER_SECONDS
        ):
            _, request = self._lingering.popleft()
            with contextlib.suppress(OSError):
                while request.recv(65536):  # what the client sent: read, so close is clean
                    pass
            request.close()

    def service_actions(self) -> None:
        self._close_lingering()

    def server_close(self) -> None:
        super().server_close()
        self._close_lingering(everything=True)

    def handle_error(self, request, client_address) -> None:
        """A viewer that went away is normal; anything else is one line, not a traceback."""
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, OSError):
            warn(f"--serve: a request from {client_address[0]} failed: {first_line(exc)}")


class MjpegServer(Presenter):
    """Serves the annotated frames on HOST:PORT while the run lasts.

    Beyond loopback a `token` is required; `max_clients` caps the streams at once.
    `extra_get` and `extra_post` add routes (or replace the page, "/").
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 8000,
        token: str | None = None,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        extra_get: dict[str, GetRoute] | None = None,
        extra_post: dict[str, PostRoute] | None = None,
    ) -> None:
        require_token_beyond_loopback(host, port, token)
        if max_clients < 1:
            raise EdgeCnnError(f"--serve-max-clients {max_clients}: give 1 or more")
        self.latest = _LatestFrame()
        check = TokenCheck(token) if token is not None else None
        try:
            self.server = _CappedHttpServer(
                (host, port), self.latest, check, max_clients, extra_get, extra_post
            )
        except OSError as exc:
            raise EdgeCnnError(
                f"--serve {host}:{port}: cannot listen there ({exc.strerror}): pick another port"
            ) from None
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def present(self, result: FrameResult) -> None:
        p = result.prediction
        info = {
            "frame": result.index,
            "label": p.label,
            "class_id": p.class_id,
            "score": round(p.score, 4),
            "fps": round(result.fps, 2),
            "model": p.model.as_json() if p.model is not None else None,
        }
        self.show(result.annotated(), info)

    def show(self, image: np.ndarray, info: dict) -> None:
        """Serve `image` (BGR) as the newest frame, `info` as /label.json."""
        self.latest.publish(image, info)

    def close(self) -> None:
        self.latest.close()
        self.server.shutdown()
        self.server.server_close()
