"""The MQTT connection, off the frame loop: a small queue, a sender thread and paho-mqtt.

    frame loop --submit()--> queue (QUEUE_SIZE, oldest dropped and counted)
                                 │  sender thread: while connected, at most MAX_INFLIGHT
                                 ▼  messages unacknowledged
                             paho-mqtt client ── its network thread keeps the connection,
                                                 reconnecting with back-off (1 s doubling to 5 s)

`submit` takes a lock for a deque append and returns: a broker that is down, slow or gone
never stops classification. Messages in flight when the connection drops stay with paho and
are sent again after the reconnect (QoS 1). One warning line per outage; one line when
the broker is back. `close()` gives the queue a moment to drain, says "offline" and returns
the counts: results = published + dropped + unsent.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

import paho.mqtt.client as paho

from edgecnn.console import counted, echo, warn
from edgecnn.device.outputs.mqtt import PASSWORD_ENV, Message, MqttOptions
from edgecnn.errors import EdgeCnnError, first_line

RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 5
KEEPALIVE_SECONDS = 15
MAX_INFLIGHT = 20
FLUSH_SECONDS = 2.0
WAKE_SECONDS = 0.5


@dataclass
class PublishCounts:
    results: int = 0  # submitted by the loop
    published: int = 0  # acknowledged by the broker
    dropped: int = 0  # pushed out of the full queue, oldest first
    unsent: int = 0  # still queued or unacknowledged at exit
    outages: int = 0


class _Client(paho.Client):
    """paho's client, keeping why the last connection attempt failed (paho's
    on_connect_fail does not say), and telling `on_network_thread_death` when its network
    thread dies of an exception (which paho would print as a traceback, and then publish
    nothing, reconnect never, say nothing more)."""

    last_error: BaseException | None = None
    on_network_thread_death = None

    def reconnect(self):
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_error = exc
            raise

    def _thread_main(self, *args, **kwargs) -> None:
        try:
            super()._thread_main(*args, **kwargs)
        except Exception as exc:
            if self.on_network_thread_death is None:
                raise
            self.on_network_thread_death(exc)


class BackgroundPublisher:
    """Publishes submitted messages to the broker from threads of its own."""

    def __init__(self, options: MqttOptions, will: Message, on_connect: list[Message]) -> None:
        self.options = options
        self.target = options.target
        self.counts = PublishCounts()
        self._queue: deque[Message] = deque()
        self._control: deque[Message] = deque()  # on_connect messages: never dropped
        self._on_connect_messages = on_connect
        self._inflight: dict[int, bool] = {}  # mid -> is a result
        self._acked_early: set[int] = set()
        self._cond = threading.Condition()
        self._connected = False
        self._ever_connected = False
        self._down_since: float | None = None
        self._dropped_at_outage = 0
        self._closing = False  # close() waits for the queue to drain
        self._stopping = False  # the sender stops
        self.stopped_by: str | None = None  # why publishing stopped for good
        self._client = self._make_client(will)
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()
        self._client.connect_async(self.target.host, self.target.port, KEEPALIVE_SECONDS)
        self._client.loop_start()

    def _make_client(self, will: Message) -> _Client:
        client = _Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"edgecnn-{socket.gethostname()}-{os.getpid()}",
            protocol=paho.MQTTv311,
        )
        client.suppress_exceptions = True
        if self.target.username is not None:
            client.username_pw_set(self.target.username, self.options.password)
        if self.target.tls:
            try:
                client.tls_set(ca_certs=str(self.options.ca_file) if self.options.ca_file else None)
            except (OSError, ValueError) as exc:
                raise EdgeCnnError(f"--mqtt-ca-file: cannot use it: {first_line(exc)}") from None
        client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_network_thread_death = self._on_network_thread_death
        return client

    # The frame loop's side.

    def submit(self, message: Message) -> None:
        with self._cond:
            self.counts.results += 1
            if len(self._queue) >= self.options.queue_size:
                self._queue.popleft()
                self.counts.dropped += 1
            self._queue.append(message)
            self._cond.notify_all()

    def announce(self, message: Message) -> None:
        """Retained state that is not a result (the model's id): sent now when connected and
        again on every connect (in place of the last one for its topic), never dropped, not
        counted among the results."""
        with self._cond:
            self._on_connect_messages = [
                m for m in self._on_connect_messages if m.topic != message.topic
            ] + [message]
            if self._connected:
                self._control.append(message)
            self._cond.notify_all()

    def connection(self) -> dict:
        """The connection as the page shows it."""
        with self._cond:
            return {
                "url": self.target.url,
                "connected": self._connected,
                "outages": self.counts.outages,
                "published": self.counts.published,
                "dropped": self.counts.dropped,
            }

    # The sender thread.

    def _can_send(self) -> bool:
        return (
            self._connected
            and bool(self._control or self._queue)
            and len(self._inflight) < MAX_INFLIGHT
        )

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._can_send(), WAKE_SECONDS)
                if self._stopping:
                    return
                if not self._can_send():
                    continue
                is_result = not self._control
                message = self._queue.popleft() if is_result else self._control.popleft()
            # Outside the lock: paho calls on_publish with its own lock held.
            info = self._client.publish(*message)
            with self._cond:
                if info.mid in self._acked_early:
                    self._acked_early.discard(info.mid)
                    self.counts.published += is_result
                else:
                    self._inflight[info.mid] = is_result

    # paho's network thread.

    def _on_publish(self, _client, _userdata, mid, _reason, _properties) -> None:
        with self._cond:
            if mid in self._inflight:
                self.counts.published += self._inflight.pop(mid)
            else:
                self._acked_early.add(mid)  # before publish() returned to the sender
            if len(self._inflight) == MAX_INFLIGHT - 1 or self._closing:
                self._cond.notify_all()  # the sender had to wait for this; or close() does

    def _on_connect(self, _client, _userdata, _flags, reason, _properties) -> None:
        if reason.is_failure:
            self._went_down(
                f"the broker refused the connection ({reason}): check the user in --mqtt and "
                f"the password (${PASSWORD_ENV} or --mqtt-password-file)"
            )
            return
        with self._cond:
            self._connected = True
            self._control.extend(self._on_connect_messages)
            down_since, self._down_since = self._down_since, None
            first, self._ever_connected = not self._ever_connected, True
            dropped = self.counts.dropped - self._dropped_at_outage
            self._cond.notify_all()
        waited = f" after {time.monotonic() - down_since:.1f} s" if down_since is not None else ""
        if first:
            echo(f"edgecnn: mqtt: publishing to {self.target.url}/state{waited}")
        elif down_since is not None:
            echo(
                f"edgecnn: mqtt: connected to {self.target.url} again{waited} "
                f"({counted(dropped, 'result')} dropped meanwhile)"
            )

    def _on_connect_fail(self, client, _userdata) -> None:
        reason = first_line(client.last_error) if client.last_error else "no answer"
        self._went_down(f"cannot reach the broker ({reason})")

    def _on_disconnect(self, _client, _userdata, _flags, reason, _properties) -> None:
        self._went_down(f"lost the connection ({reason})")

    def _on_network_thread_death(self, exc: BaseException) -> None:
        with self._cond:
            self._connected = False
            self.stopped_by = (
                f"publishing stopped for good: paho-mqtt's network thread died "
                f"({type(exc).__name__}: {first_line(exc)})"
            )
            self._cond.notify_all()
        warn(
            f"mqtt {self.target.url}: {self.stopped_by}; classification goes on, its results "
            "are no longer published"
        )

    def _went_down(self, why: str) -> None:
        with self._cond:
            self._connected = False
            if self._stopping or self._down_since is not None:
                return  # one warning per outage
            self._down_since = time.monotonic()
            self._dropped_at_outage = self.counts.dropped
            self.counts.outages += 1
        warn(
            f"mqtt {self.target.url}: {why}; classification goes on, reconnecting, keeping "
            f"the newest {self.options.queue_size} results"
        )

    def close(self, flush_seconds: float = FLUSH_SECONDS) -> PublishCounts:
        """Send what is queued (for up to `flush_seconds` while connected), publish
        "offline", disconnect; return the counts."""
        with self._cond:
            self._closing = True
            self._cond.wait_for(
                lambda: not self._connected or not (self._queue or self._control or self._inflight),
                flush_seconds,
            )
            self._stopping = True
            connected = self._connected
            self._cond.notify_all()
        self._sender.join()
        if connected:
            info = self._client.publish(self.target.availability_topic, "offline", 1, True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(1.0)
        self._client.disconnect()
        self._client.loop_stop()
        with self._cond:
            self.counts.unsent = len(self._queue) + sum(self._inflight.values())
        return self.counts
