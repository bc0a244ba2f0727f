"""What a route of the `--serve` page is, and what its state endpoint answers.

A route is a plain function that returns a `Reply`; it never sees the HTTP server, so a
command adds its own (device/capture/page.py) without knowing how requests are served:

    GetRoute:  () -> Reply              runs on the server's thread: must be quick
    PostRoute: (JSON body) -> Reply     runs on a worker thread: may wait (for the loop)

`PageState` is what /label.json answers: the record the loop published for the newest
frame, and fields that others add by name (`add`), each a function called when a request
asks. A new field (a model id, an uptime, the MQTT connection) is one `add` call where the
thing is known; the server is not touched.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: object, status: int = HTTPStatus.OK) -> Reply:
        return cls(int(status), json.dumps(value).encode(), "application/json")

    @classmethod
    def html(cls, text: str, status: int = HTTPStatus.OK) -> Reply:
        return cls(int(status), text.encode("utf-8"), "text/html; charset=utf-8")

    @classmethod
    def text(cls, text: str, status: int, headers: dict[str, str] | None = None) -> Reply:
        return cls(int(status), text.encode("utf-8"), "text/plain; charset=utf-8", headers or {})


GetRoute = Callable[[], Reply]
PostRoute = Callable[[object], Reply]  # the request's JSON body


class PageState:
    """The newest published record, and named fields computed when asked."""

    def __init__(self, record: dict) -> None:
        self._record = record
        self._fields: dict[str, Callable[[], object]] = {}
        self._lock = threading.Lock()

    def publish(self, record: dict) -> None:
        """The loop's record for its newest frame (replaces the last one)."""
        self._record = record

    def add(self, name: str, value: Callable[[], object]) -> None:
        """A field of every answer from now on: `value()` when a request asks."""
        with self._lock:
            self._fields[name] = value

    def snapshot(self) -> dict:
        with self._lock:
            fields = dict(self._fields)
        return {**self._record, **{name: value() for name, value in fields.items()}}
