"""A real MQTT broker for the tests: Debian's mosquitto on 127.0.0.1, on a free port, with a
generated config; it can be stopped (SIGTERM or SIGKILL) and started again on the same port.
And a subscriber (paho-mqtt) that keeps every message it receives.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, every: float = 0.05):
    """Poll `condition` until it returns something true; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Mosquitto:
    """mosquitto listening on 127.0.0.1:`port` (plain; a TLS listener too when given
    cert files). `users` {name: password} turns anonymous access off."""

    def __init__(
        self,
        folder: Path,
        users: dict[str, str] | None = None,
        persistence: bool = False,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.log = folder / "mosquitto.log"
        lines = [
            "per_listener_settings false",
            "user root" if _running_as_root() else "",
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if users else 'true'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
        ]
        if tls:
            ca, cert, key = tls
            lines += [f"listener {self.tls_port} 127.0.0.1",
                      f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]  # fmt: skip
        if users:
            passwords = folder / "passwords"
            passwords.touch()
            for name, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwords), name, password],
                               check=True, capture_output=True)  # fmt: skip
            lines.append(f"password_file {passwords}")
        if persistence:
            lines += ["persistence true", f"persistence_location {folder}/"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        wait_for(self._accepting, 10, f"mosquitto on port {self.port} ({self.log})")

    def _accepting(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
            return True
        return False

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None

    def url(self, prefix: str, user: str | None = None) -> str:
        return f"mqtt://{user + '@' if user else ''}127.0.0.1:{self.port}/{prefix}"


def _running_as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> dict:
        return json.loads(self.payload)


class Subscriber:
    """A paho-mqtt client subscribed to `topics` (QoS 1), keeping what arrives.

    With `client_id`, its session is persistent (clean_session off): a broker with
    persistence keeps its subscriptions and its missed messages across a restart.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics: list[str],
        client_id: str = "",
        user: tuple[str, str] | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=not client_id)  # fmt: skip
        if user:
            self.client.username_pw_set(*user)
        self.client.reconnect_delay_set(1, 1)
        self.topics = topics

        def on_connect(client, _userdata, _flags, reason, _properties) -> None:
            if not reason.is_failure:
                client.subscribe([(topic, 1) for topic in topics])
                self.connected.set()

        def on_subscribe(*_args) -> None:
            self.subscribed.set()  # the SUBACK of the one subscribe, for all the topics

        def on_disconnect(*_args) -> None:
            self.connected.clear()

        def on_message(_client, _userdata, message) -> None:
            with self.lock:
                self.messages.append(
                    Received(message.topic, message.payload, message.retain, time.monotonic())
                )

        self.client.on_connect = on_connect
        self.client.on_disconnect = on_disconnect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect_async("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.connected.wait(10), "the test subscriber could not connect"
        assert self.subscribed.wait(10), "the broker did not acknowledge the subscription"

    def on(self, topic: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
