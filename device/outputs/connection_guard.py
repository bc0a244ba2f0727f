"""The page server's door: each connection admitted or turned away as it opens, and held
to a deadline for its whole request head (serve_limits.py has the rules).

aiohttp's per-connection protocol (`GuardedHandler`, made by `GuardedServer`) reports to
the `Guard` as a connection opens, receives bytes and closes; the server's request handler
tells it when a head has arrived (`head_received`) and when the answer is out (`answered`).
A connection turned away gets a short answer written straight to its socket (503 over the
limits, 408 when its head did not come in time, 431 when its head grew too large), before
aiohttp sees any request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from http import HTTPStatus

from aiohttp import web

from edgecnn.device.outputs.serve_limits import ConnectionBook, Limits

MAX_HEAD_BYTES = 32 * 1024
LINGER_SECONDS = 1.0  # a turned-away socket stays open this long, so the client reads why
MAX_LINGERING = 64
BUSY_BODY = b"busy: too many viewers; try again later\n"


def raw_response(status: HTTPStatus, body: bytes, extra: str = "") -> bytes:
    """A whole response, for a connection turned away before aiohttp saw a request."""
    return (
        f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: text/plain\r\n{extra}"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


BUSY_RESPONSE = raw_response(HTTPStatus.SERVICE_UNAVAILABLE, BUSY_BODY, "Retry-After: 5\r\n")
HEAD_TIMEOUT_RESPONSE = raw_response(
    HTTPStatus.REQUEST_TIMEOUT, b"the request head did not come in time\n"
)
HEAD_TOO_LARGE_RESPONSE = raw_response(
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, b"the request head is too large\n"
)


class GuardedHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, reporting to the guard as the connection opens,
    receives and closes (asyncio's protocol methods: the same from aiohttp 3.8 on)."""

    turned_away = False

    def __init__(self, manager: web.Server, guard: Guard, **options) -> None:
        self.guard = guard
        super().__init__(manager, **options)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.guard.opened(self, transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.guard.takes(self, len(data)):
            super().data_received(data)


class GuardedServer(web.Server):
    """aiohttp's low-level server (the protocol factory), making `GuardedHandler`s."""

    def __init__(self, dispatch, guard: Guard, **handler_options) -> None:
        super().__init__(dispatch, **handler_options)
        self.guard = guard
        self.handler_options = handler_options

    def __call__(self) -> GuardedHandler:
        return GuardedHandler(self, self.guard, loop=self.guard.loop, **self.handler_options)


class Guard:
    """Admits connections by the book, and holds each waiting one to its head deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
        self.loop = loop
        self.book: ConnectionBook[GuardedHandler] = ConnectionBook(limits)
        self.transports: dict[GuardedHandler, asyncio.Transport] = {}
        self.deadlines: dict[GuardedHandler, asyncio.TimerHandle] = {}
        self.head_bytes: dict[GuardedHandler, int] = {}
        self.lingering: deque[asyncio.Transport] = deque()

    def opened(self, handler: GuardedHandler, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        admitted, displaced = self.book.admit(handler, str(peer[0]) if peer else "")
        if not admitted:
            self._turn_away(handler, transport, BUSY_RESPONSE)
            return
        if displaced is not None:
            self._drop(displaced, BUSY_RESPONSE)
        self.transports[handler] = transport
        self._wait_for_head(handler)

    def takes(self, handler: GuardedHandler, size: int) -> bool:
        """Whether aiohttp gets these bytes: not after the connection is turned away, nor
        past MAX_HEAD_BYTES of a head."""
        if handler.turned_away:
            return False
        received = self.head_bytes.get(handler)
        if received is None:
            return True
        self.head_bytes[handler] = received + size
        if received + size > MAX_HEAD_BYTES:
            self._drop(handler, HEAD_TOO_LARGE_RESPONSE)
            return False
        return True

    def head_received(self, handler: GuardedHandler) -> None:
        self._stop_clock(handler)
        self.book.busy(handler)

    def answered(self, handler: GuardedHandler) -> None:
        """The answer is out: the next head has its deadline from now."""
        transport = self.transports.get(handler)
        if transport is not None and not transport.is_closing():
            self.book.idle(handler)
            self._wait_for_head(handler)

    def closed(self, handler: GuardedHandler) -> None:
        self._stop_clock(handler)
        self.transports.pop(handler, None)
        self.book.release(handler)

    def close_all(self) -> None:
        for handler in list(self.transports):
            self._drop(handler, b"")

    def _wait_for_head(self, handler: GuardedHandler) -> None:
        self.head_bytes[handler] = 0
        self.deadlines[handler] = self.loop.call_later(
            self.book.limits.head_seconds, self._drop, handler, HEAD_TIMEOUT_RESPONSE
        )

    def _stop_clock(self, handler: GuardedHandler) -> None:
        deadline = self.deadlines.pop(handler, None)
        if deadline is not None:
            deadline.cancel()
        self.head_bytes.pop(handler, None)

    def _drop(self, handler: GuardedHandler, response: bytes) -> None:
        transport = self.transports.pop(handler, None)
        self._stop_clock(handler)
        self.book.release(handler)
        if transport is not None:
            self._turn_away(handler, transport, response)

    def _turn_away(
        self, handler: GuardedHandler, transport: asyncio.Transport, response: bytes
    ) -> None:
        """Answer `response` and close. The socket lingers a moment, reading and dropping
        what the client still sends, so the close does not reset the answer away; past
        MAX_LINGERING the oldest lingering socket closes at once."""
        handler.turned_away = True
        if not response:
            transport.abort()
            return
        transport.write(response)
        if transport.can_write_eof():
            transport.write_eof()
        self.lingering.append(transport)
        if len(self.lingering) > MAX_LINGERING:
            self.lingering.popleft().close()
        self.loop.call_later(LINGER_SECONDS, self._end_linger, transport)

    def _end_linger(self, transport: asyncio.Transport) -> None:
        with contextlib.suppress(ValueError):
            self.lingering.remove(transport)
        transport.close()
