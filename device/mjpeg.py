"""`--serve HOST:PORT`: the annotated frames as an MJPEG stream, and a page that shows them.

    /             the page: the stream and the current label (polled from /label.json)
    /stream.mjpg  multipart/x-mixed-replace JPEG stream of the annotated frames
    /frame.jpg    the latest annotated frame
    /label.json   the latest prediction, FPS, and how many frames have been served

The server runs on daemon threads; the loop thread only hands over the latest annotated
frame, and JPEG encoding happens in the request threads, once per frame however many watch.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from edgecnn.errors import EdgeCnnError

from .loop import FrameResult, Presenter

DEFAULT_HOST = "127.0.0.1"
BOUNDARY = "edgecnnframe"
JPEG_QUALITY = 80

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


class _LatestFrame:
    """The newest annotated frame and its JPEG, encoded on first request."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.sequence = 0
        self.image: np.ndarray | None = None
        self.jpeg: bytes | None = None
        self.jpeg_sequence = -1
        self.info: dict = {"frame": None, "label": None, "score": 0.0, "fps": 0.0}
        self.frames_served = 0
        self.closing = False

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
            if self.jpeg_sequence != self.sequence:
                ok, buffer = cv2.imencode(
                    ".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
                )
                self.jpeg, self.jpeg_sequence = (buffer.tobytes() if ok else None), self.sequence
            return self.sequence, self.jpeg

    def close(self) -> None:
        with self.condition:
            self.closing = True
            self.condition.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server_version = "edgecnn"
    latest: _LatestFrame  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:  # quiet: stdout carries JSON
        pass

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, PAGE.encode("utf-8"), "text/html; charset=utf-8")
        elif path == "/label.json":
            info = dict(self.latest.info, frames_served=self.latest.frames_served)
            self._send(HTTPStatus.OK, json.dumps(info).encode(), "application/json")
        elif path == "/frame.jpg":
            _, jpeg = self.latest.jpeg_after(max(0, self.latest.sequence - 1), timeout=5.0)
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain")
            else:
                self._send(HTTPStatus.OK, jpeg, "image/jpeg")
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _stream(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sequence = max(0, self.latest.sequence - 1)
        try:
            while not self.latest.closing:
                sequence, jpeg = self.latest.jpeg_after(sequence)
                if jpeg is None:
                    continue
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                )
                self.wfile.write(jpeg)
                self.wfile.write(b"\r\n")
                self.wfile.flush()
                self.latest.frames_served += 1
        except (BrokenPipeError, ConnectionResetError):
            pass


class MjpegServer(Presenter):
    """Serves the annotated frames on HOST:PORT while the run lasts."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 8000) -> None:
        self.latest = _LatestFrame()
        handler = type("Handler", (_Handler,), {"latest": self.latest})
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise EdgeCnnError(
                f"--serve {host}:{port}: cannot listen there ({exc.strerror}): pick another port"
            ) from None
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def present(self, result: FrameResult) -> None:
        p = result.prediction
        info = {
            "frame": result.index,
            "label": p.label,
            "class_id": p.class_id,
            "score": round(p.score, 4),
            "fps": round(result.fps, 2),
        }
        self.latest.publish(result.annotated(), info)

    def close(self) -> None:
        self.latest.close()
        self.server.shutdown()
        self.server.server_close()
