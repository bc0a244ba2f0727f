"""`edgecnn run` as a subprocess that keeps running while a test talks to it: its stdout and
stderr are read as they come (a full pipe would stall the frame loop), line by line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time


class LiveRun:
    @staticmethod
    def command() -> list[str]:
        return [sys.executable, "-m", "edgecnn.cli", "run"]

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*self.command(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr), daemon=True),
        ]  # fmt: skip
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def records(self) -> list[dict]:
        """The --json lines so far."""
        return [json.loads(line) for line in list(self.stdout) if line.startswith("{")]

    def stderr_match(self, pattern: str, timeout: float = 60) -> re.Match:
        """Wait for a stderr line matching `pattern` (fails with the stderr so far)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stderr):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None and not any(r.is_alive() for r in self._readers):
                break
            time.sleep(0.05)
        raise AssertionError(f"no stderr line matching {pattern!r}:\n{''.join(self.stderr)}")

    def url(self) -> str:
        return self.stderr_match(r"serving (http://\S+)").group(1)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
