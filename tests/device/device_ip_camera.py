"""A small MJPEG-over-HTTP camera on 127.0.0.1 for the tests: it can fail and come back."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


class FakeIpCamera:
    """Serves `frames` (BGR) as multipart/x-mixed-replace JPEGs at /video.mjpg, looping."""

    def __init__(self, frames: list[np.ndarray], fps: float = 25.0) -> None:
        self.jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self.fps = fps
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.frames_sent = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> None:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while camera.server is self.server and not camera.down.is_set():
                        jpeg = camera.jpegs[index % len(camera.jpegs)]
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\n"
                            + f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg
                            + b"\r\n"
                        )
                        camera.frames_sent += 1
                        index += 1
                        time.sleep(1.0 / camera.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.down = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.allow_reuse_address = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail(self) -> None:
        """Drop every connection and stop listening (a camera unplugged, a network cut)."""
        server, self.server = self.server, None
        self.down.set()
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        self.fail()
