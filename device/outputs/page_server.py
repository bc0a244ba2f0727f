"""The `--serve` HTTP server: aiohttp's low-level server on an event loop of its own thread.

(What it serves and why it is safe to leave on a network: mjpeg.py.) One thread holds every
connection, however many: a connection costs a few kilobytes, never a thread, so a crowd or
a slowloris costs memory in proportion and cannot starve the frame loop of threads or of the
interpreter lock. The door (connection_guard.py) admits connections and holds each to a
deadline for its request head; `PageServer._dispatch` then checks each request in order:
Host and Origin (403), token (401), route (404, 405), and for a POST the JSON body (415,
411, 413, 408, 400). An answer that the client does not take within WRITE_SECONDS drops
the connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import json
import logging
import socket
import struct
import termios
import threading
from http import HTTPStatus
from urllib.parse import parse_qs

from aiohttp import web

from edgecnn.console import warn
from edgecnn.device.outputs.connection_guard import BUSY_BODY, Guard, GuardedServer
from edgecnn.device.outputs.latest_frame import LatestFrame
from edgecnn.device.outputs.page_html import PAGE, TOKEN_PAGE
from edgecnn.device.outputs.routes import GetRoute, PageState, PostRoute, Reply
from edgecnn.device.outputs.serve_access import RequestNames, TokenCheck
from edgecnn.device.outputs.serve_limits import Limits
from edgecnn.errors import first_line

BOUNDARY = "edgecnnframe"
WRITE_SECONDS = 10.0  # a client that takes no data this long is dropped
BODY_SECONDS = 5.0  # a POST body must come within this
MAX_POST_BYTES = 4096
MAX_HEADERS = 64
POST_WORKERS = 4  # a POST route may wait (capture waits for the loop's next frame)
STREAM_BUFFER_LIMIT = 1 << 22  # above any one frame: a stream's writes never wait
STREAM_BEHIND_BYTES = 256 * 1024  # or two frames: what a viewer may have still to take

_quiet = logging.getLogger("edgecnn.serve")  # aiohttp's own messages: the one-line warn is ours
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def kernel_queue_bytes(sock) -> int:
    """What the kernel still holds for the peer, not yet acknowledged (Linux's SIOCOUTQ;
    0 where it cannot say)."""
    try:
        queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError, AttributeError):
        return 0
    return struct.unpack("i", queued)[0]


def _reply_response(reply: Reply) -> web.Response:
    response = web.Response(status=reply.status, body=reply.body, headers=reply.headers)
    response.headers["Content-Type"] = reply.content_type
    response.headers["Cache-Control"] = "no-store"
    response.headers["Server"] = "edgecnn"
    return response


class PageServer:
    """Serves `latest` and `state` on (host, port) from a thread of its own until `close`.

    `get_routes` and `post_routes` add routes to the built-in ones (or replace the page,
    "/"). Raises OSError (socket.gaierror for a name) when it cannot listen there."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str | None,
        max_clients: int,
        state: PageState,
        get_routes: dict[str, GetRoute] | None = None,
        post_routes: dict[str, PostRoute] | None = None,
    ) -> None:
        self.latest = LatestFrame()
        self.state = state
        self.names = RequestNames(host)
        self.token_check = TokenCheck(token) if token is not None else None
        self.limits = Limits.for_streams(max_clients)
        self.get_routes: dict[str, GetRoute] = {
            "/": lambda: Reply.html(PAGE),
            "/label.json": lambda: Reply.json(self.state.snapshot()),
            **(get_routes or {}),
        }
        self.post_routes = dict(post_routes or {})
        self.streamed = {"/stream.mjpg": self._stream, "/frame.jpg": self._frame}
        self._posts = concurrent.futures.ThreadPoolExecutor(POST_WORKERS, "edgecnn-post")
        self.loop = asyncio.new_event_loop()
        self.guard: Guard | None = None
        self.runner: web.ServerRunner | None = None
        started: concurrent.futures.Future = concurrent.futures.Future()
        self.thread = threading.Thread(
            target=self._run, args=(host, port, started), name="edgecnn-serve", daemon=True
        )
        self.thread.start()
        self.host, self.port = started.result()

    # --- the event loop's thread ------------------------------------------------------

    def _run(self, host: str, port: int, started: concurrent.futures.Future) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            address = self.loop.run_until_complete(self._start(host, port))
        except BaseException as exc:  # to the constructor, which raises it
            self.loop.close()
            started.set_exception(exc)
            return
        started.set_result(address)
        self.loop.run_forever()
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()

    async def _start(self, host: str, port: int) -> tuple[str, int]:
        listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind((host, port))
            listening.listen(128)  # a burst waits for accept(), not for SYN retries
        except BaseException:
            listening.close()
            raise
        self.guard = Guard(self.loop, self.limits)
        self.latest.attach(self.loop)
        server = GuardedServer(
            self._dispatch, self.guard, keepalive_timeout=75.0, max_headers=MAX_HEADERS,
            access_log=None, logger=_quiet,
        )  # fmt: skip
        self.runner = web.ServerRunner(server, handle_signals=False)
        await self.runner.setup()
        await web.SockSite(self.runner, listening).start()
        return listening.getsockname()[:2]

    async def _shutdown(self) -> None:
        self.latest.close()  # the streams end
        self.guard.close_all()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.runner.cleanup(), 2.0)

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request; its connection then waits for the next head."""
        handler = request.protocol
        self.guard.head_received(handler)
        response: web.StreamResponse = web.Response(status=HTTPStatus.NO_CONTENT)
        try:
            response = await self._answer(request)
            if not response.prepared:
                await asyncio.wait_for(self._send(request, response), WRITE_SECONDS)
        except (ConnectionError, asyncio.TimeoutError):
            self.guard.closed(handler)
            if request.transport is not None:
                request.transport.abort()
        except Exception as exc:  # a bug: one line, not a traceback, and the server goes on
            warn(f"--serve: a request for {request.path} failed: {first_line(exc)}")
            response = _reply_response(Reply.text("internal error\n", 500))
        else:
            self.guard.answered(handler)
        return response

    @staticmethod
    async def _send(request: web.BaseRequest, response: web.StreamResponse) -> None:
        await response.prepare(request)
        await response.write_eof()

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return _reply_response(refusal)
        path = request.path
        if request.method == "GET" and path in self.streamed:
            return await self.streamed[path](request)
        if request.method == "GET" and path in self.get_routes:
            return _reply_response(self.get_routes[path]())
        if request.method == "POST" and path in self.post_routes:
            return _reply_response(await self._post(request, self.post_routes[path]))
        allowed = [m for m, table in (("GET", self.get_routes), ("GET", self.streamed),
                                      ("POST", self.post_routes)) if path in table]  # fmt: skip
        if allowed:
            status = HTTPStatus.METHOD_NOT_ALLOWED
            reply = Reply.text("method not allowed\n", status, {"Allow": ", ".join(allowed)})
        else:
            reply = Reply.text("not found\n", HTTPStatus.NOT_FOUND)
        return _reply_response(reply)

    def _refusal(self, request: web.BaseRequest) -> Reply | None:
        """The answer for a request that may not go on, else None: a foreign Host or Origin
        (403), no token (401, the token page for /), or the token in the URL (303 with the
        cookie, so the address bar loses it)."""
        host = request.headers.get("Host")
        local = request.transport.get_extra_info("sockname") if request.transport else None
        if not self.names.allows_host(host, local[0] if local else None):
            return Reply.text(
                f"this edgecnn answers to {self.names.describe()}; not to Host {host!r}\n",
                HTTPStatus.FORBIDDEN,
            )
        if not self.names.allows_origin(request.headers.get("Origin"), host):
            return Reply.text("requests from other sites are refused\n", HTTPStatus.FORBIDDEN)
        check = self.token_check
        if check is None:
            return None
        query = parse_qs(request.query_string)
        if not check.accepts(query, request.headers):
            challenge = {"WWW-Authenticate": "Bearer"}
            if request.path == "/":
                return Reply(401, TOKEN_PAGE.encode(), "text/html; charset=utf-8", challenge)
            text = "this edgecnn needs its token: open / to give it\n"
            return Reply.text(text, HTTPStatus.UNAUTHORIZED, challenge)
        if request.path == "/" and "token" in query:
            headers = {"Location": "/", "Set-Cookie": check.set_cookie()}
            return Reply.text("", HTTPStatus.SEE_OTHER, headers)
        return None

    async def _post(self, request: web.BaseRequest, route: PostRoute) -> Reply:
        """A JSON body of at most MAX_POST_BYTES, given to `route` on a worker thread."""
        if request.content_type != "application/json":
            return Reply.json({"error": "send JSON (Content-Type: application/json)"},
                              HTTPStatus.UNSUPPORTED_MEDIA_TYPE)  # fmt: skip
        length = request.content_length
        if length is None:
            return Reply.json({"error": "Content-Length needed"}, HTTPStatus.LENGTH_REQUIRED)
        if length > MAX_POST_BYTES:
            return Reply.json({"error": "too long"}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        try:
            raw = await asyncio.wait_for(request.content.readexactly(length), BODY_SECONDS)
        except asyncio.TimeoutError:
            return Reply.json({"error": "the body did not come in time"},
                              HTTPStatus.REQUEST_TIMEOUT)  # fmt: skip
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("the body ended early") from None
        try:
            body = json.loads(raw or b"null")
        except (ValueError, RecursionError):
            return Reply.json({"error": "the body is not JSON"}, HTTPStatus.BAD_REQUEST)
        return await self.loop.run_in_executor(self._posts, route, body)

    async def _frame(self, request: web.BaseRequest) -> web.StreamResponse:
        jpeg = await self.latest.newest_jpeg(timeout=5.0)
        if jpeg is None:
            return _reply_response(Reply.text("no frame yet\n", HTTPStatus.SERVICE_UNAVAILABLE))
        return _reply_response(Reply(HTTPStatus.OK, jpeg, "image/jpeg"))

    async def _stream(self, request: web.BaseRequest) -> web.StreamResponse:
        """multipart/x-mixed-replace, always the newest frame. A frame is written only when
        the viewer is less than about two frames behind (what waits for it in our buffer
        and the kernel's), so a slow viewer skips frames, nothing queues up for it, and
        nothing waits on it; one that takes nothing for WRITE_SECONDS is dropped."""
        if not self.guard.book.start_stream():
            reply = Reply.text(BUSY_BODY.decode(), HTTPStatus.SERVICE_UNAVAILABLE,
                               {"Retry-After": "5"})  # fmt: skip
            return _reply_response(reply)
        try:
            response = web.StreamResponse(headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
                "Server": "edgecnn",
            })  # fmt: skip
            await asyncio.wait_for(response.prepare(request), WRITE_SECONDS)
            transport = request.transport
            # Never paused by a full buffer: the frames skipped below are the flow control.
            transport.set_write_buffer_limits(high=STREAM_BUFFER_LIMIT)
            sock = transport.get_extra_info("socket")
            sequence = max(0, self.latest.sequence - 1)
            taken = self.loop.time()
            while not self.latest.closing:
                sequence, jpeg = await self.latest.next_jpeg(sequence)
                if jpeg is None:
                    continue
                behind = transport.get_write_buffer_size() + kernel_queue_bytes(sock)
                if behind > max(STREAM_BEHIND_BYTES, 2 * len(jpeg)):
                    if self.loop.time() - taken > WRITE_SECONDS:
                        raise ConnectionResetError("the viewer takes no data")
                    continue
                taken = self.loop.time()
                part = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n").encode()  # fmt: skip
                await response.write(part + jpeg + b"\r\n")
                self.latest.served += 1
            return response
        finally:
            self.guard.book.end_stream()

    # --- from other threads -----------------------------------------------------------

    def close(self) -> None:
        """Stop serving: the streams end, the connections close, the thread ends."""
        if self.loop.is_closed():
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5.0)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        self._posts.shutdown(wait=False)
