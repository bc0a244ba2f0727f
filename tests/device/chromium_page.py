"""Headless Chromium driven over the DevTools protocol, to click on a page as a person does.

Chromium is started with `--remote-debugging-pipe`: it reads protocol commands (JSON, each
ended by a NUL byte) on its descriptor 3 and answers on descriptor 4, so no WebSocket
library is needed. Clicks are real mouse events at an element's position on the page.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class ChromiumPage:
    """One page of a headless Chromium, at `url`."""

    def __init__(self, url: str, profile: Path, size: tuple[int, int] = (900, 800)) -> None:
        to_chromium, self._commands = os.pipe()
        self._answers, from_chromium = os.pipe()
        self.process = subprocess.Popen(
            # bash puts the pipes on descriptors 3 and 4 (dash takes single-digit ones only)
            ["bash", "-c", f'exec "$@" 3<&{to_chromium} 4>&{from_chromium}', "bash", CHROMIUM,
             "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}",
             f"--window-size={size[0]},{size[1]}", "about:blank"],
            pass_fds=(to_chromium, from_chromium),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chromium)
        os.close(from_chromium)
        self._next_id = 0
        self._buffer = b""
        target = self.command("Target.createTarget", {"url": url})["targetId"]
        self.session = self.command("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]

    def command(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        """Send one protocol command (to the page once attached); return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if getattr(self, "session", None):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium went away")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression on the page (promises awaited)."""
        result = self.command(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        """Poll `expression` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"the page never made {expression!r} true")

    def click(self, selector: str) -> None:
        """A left click (press and release) at the middle of the element `selector`."""
        box = self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.command(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def press(self, key: str) -> None:
        """A key typed on the page (a printable one: "2", "d")."""
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": key}
            if kind == "keyDown":
                params["text"] = key
            self.command("Input.dispatchKeyEvent", params)

    def screenshot(self, path: Path) -> Path:
        """The page as it is shown now, as a PNG file."""
        data = self.command("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.session = None  # a command to the browser, not to the page
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.command("Browser.close", timeout=10)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for fd in (self._commands, self._answers):
            os.close(fd)
