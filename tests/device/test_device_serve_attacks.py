"""The --serve page under attack: slow request heads (slowloris), more connections than it
holds, one client hogging it, oversized heads, a viewer that takes nothing, and DNS
rebinding (a foreign Host, a foreign Origin), against `edgecnn capture --serve` and the
server itself. Real sockets on 127.0.0.1; other 127.x.y.z addresses stand for other
machines (Linux routes all of 127/8 to the loopback)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import numpy as np
import pytest
from live_run import LiveRun
from mosquitto_broker import wait_for

from edgecnn.device.outputs.connection_guard import MAX_HEAD_BYTES
from edgecnn.device.outputs.mjpeg import MjpegServer
from edgecnn.device.outputs.page_server import WRITE_SECONDS
from edgecnn.device.outputs.serve_access import RequestNames
from edgecnn.device.outputs.serve_limits import HEAD_SECONDS, MAX_CONNECTIONS, Limits
from edgecnn.errors import EdgeCnnError

TOKEN = "attack-test-token-0123456789"
SLACK_S = 2.0  # scheduling on a busy machine


class Publisher:
    """The loop's side: a new 640x480 frame every 40 ms until stopped."""

    def __init__(self, server: MjpegServer) -> None:
        self.server = server
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        frames = [np.full((480, 640, 3), 40 * i, np.uint8) for i in range(4)]
        for i, frame in enumerate(frames):
            frame[100:300, 100 + 50 * i : 300 + 50 * i] = (0, 160, 220)
        index = 0
        while not self.stop.wait(0.04):
            record = {"frame": index, "label": "x", "score": 0.9, "fps": 25.0}
            self.server.show(frames[index % 4], record)
            index += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture()
def page():
    """An MjpegServer on 127.0.0.1 with the default stream cap (4), fed frames."""
    server = MjpegServer("127.0.0.1", 0)
    publisher = Publisher(server)
    wait_for(lambda: server.server.latest.sequence > 0, 10, "the first frame")
    yield server
    publisher.close()
    server.close()


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("edgecnn-")]


def ask(port: int, path: str = "/label.json", *, host: str | None = None, source: str = "127.0.0.1",
        method: str = "GET", headers: dict | None = None, body: bytes = b"",
        first_bytes: int | None = None) -> tuple[int, bytes]:  # fmt: skip
    """(status, the response) of one request on a new connection from `source`; with
    `first_bytes`, only that much is read (a stream never ends)."""
    host = f"127.0.0.1:{port}" if host is None else host
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}",
             "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]  # fmt: skip
    if body:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), 10, source_address=(source, 0)) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while first_bytes is None or len(answer) < first_bytes:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def ask_json(port: int, path: str, **kwargs) -> tuple[int, dict | None]:
    status, answer = ask(port, path, **kwargs)
    body = answer.split(b"\r\n\r\n", 1)[1]
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


async def slow_header_sender(port: int, source: str, every: float, results: list) -> None:
    """Send a request line, then a header line every `every` s and never the end of the
    head; note (seconds until the server ended it, its answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    start = time.monotonic()
    writer.write(f"GET /label.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
    answer = b""
    try:
        for line in range(int((HEAD_SECONDS + 3 * SLACK_S) / every)):
            try:
                answer = await asyncio.wait_for(reader.read(1024), every)
                break
            except asyncio.TimeoutError:
                writer.write(f"X-Slow-{line}: {line}\r\n".encode())
                await writer.drain()
    except ConnectionError:
        pass
    results.append((time.monotonic() - start, answer))
    writer.close()


async def viewer_during(port: int, seconds: float, results: list, source: str = "127.0.0.1"):
    """What a viewer gets meanwhile: /label.json every 250 ms."""
    await asyncio.sleep(0.5)  # after the attack has begun
    loop = asyncio.get_running_loop()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        results.append(await loop.run_in_executor(None, lambda: ask(port, source=source)[0]))
        await asyncio.sleep(0.25)


def slowloris(port: int, sources: list[str], per_source: int, every: float) -> tuple[list, list]:
    ended: list = []
    viewer: list = []

    async def attack() -> None:
        senders = [slow_header_sender(port, s, every, ended) for s in sources
                   for _ in range(per_source)]  # fmt: skip
        await asyncio.gather(*senders, viewer_during(port, HEAD_SECONDS, viewer))

    asyncio.run(attack())
    return ended, viewer


@pytest.mark.timeout(120)
def test_slow_request_heads_cannot_keep_viewers_out(page):
    port = page.port
    assert ask(port, "/frame.jpg")[0] == 200  # the JPEG encoder's thread is started
    threads = server_threads()

    # The case: 8 connections from the viewer's own address, a header line each
    # (here every second: under the old per-line timeout they would never have ended).
    ended, viewer = slowloris(port, ["127.0.0.1"], 8, every=1.0)
    assert viewer and set(viewer) == {200}, viewer
    assert len(ended) == 8
    for seconds, answer in ended:  # the whole head had its deadline, lines or not
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert HEAD_SECONDS - 0.5 <= seconds <= HEAD_SECONDS + SLACK_S, seconds

    # 64 from 8 other addresses: the viewer is still served, and a stream too.
    sources = [f"127.0.1.{i}" for i in range(1, 9)]
    stream: list = []
    watcher = threading.Thread(target=lambda: stream.append(
        ask(port, "/stream.mjpg", first_bytes=20_000, source="127.0.2.1")))  # fmt: skip
    timer = threading.Timer(1.0, watcher.start)
    timer.start()
    ended, viewer = slowloris(port, sources, 8, every=1.0)
    watcher.join(10)
    assert viewer and set(viewer) == {200}, viewer
    assert stream and stream[0][0] == 200 and b"Content-Type: image/jpeg" in stream[0][1]
    assert {answer.split(b" ", 2)[1] for _, answer in ended} == {b"408"}
    assert max(seconds for seconds, _ in ended) <= HEAD_SECONDS + SLACK_S
    assert len(server_threads()) <= len(threads)  # a connection costs no thread


@pytest.mark.timeout(120)
def test_more_slow_connections_than_the_server_holds_still_let_a_viewer_in(page):
    """300 slow heads from 30 addresses (10 each, under the per-client cap): the server
    holds 256; each newcomer displaces the oldest waiting connection, so the viewer's
    request, whose head comes at once, is answered."""
    port = page.port
    assert MAX_CONNECTIONS == Limits.for_streams(4).max_connections < 300
    sources = [f"127.0.4.{i}" for i in range(1, 31)]
    ended, viewer = slowloris(port, sources, 10, every=0.5)
    assert viewer and set(viewer) == {200}, viewer
    answers = {answer.split(b" ", 2)[1] for _, answer in ended}
    assert answers <= {b"408", b"503"} and b"503" in answers, answers  # displaced, or timed out


def test_a_client_holds_at_most_its_share_of_connections(page):
    port = page.port
    share = Limits.for_streams(4).per_client
    held = [socket.create_connection(("127.0.0.1", port), 5, source_address=("127.0.5.1", 0))
            for _ in range(share)]  # fmt: skip
    try:
        time.sleep(0.3)  # all admitted and waiting for their heads
        status, answer = ask(port, source="127.0.5.1")
        assert status == 503 and b"Retry-After: 5" in answer
        assert ask(port, source="127.0.5.2")[0] == 200  # another client is served
    finally:
        for s in held:
            s.close()
    wait_for(lambda: ask(port, source="127.0.5.1")[0] == 200, 5, "its connections to be let go")


def open_stream(port: int, source: str, headers: dict | None = None) -> tuple[socket.socket, int]:
    """A stream request kept open: (its socket, the status)."""
    s = socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0))
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    s.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode())
    return s, int(s.recv(64).split(b" ", 2)[1])


def test_requests_that_fail_the_checks_never_take_a_stream():
    """With the token required and 2 streams: 10 connections still sending their heads and
    10 stream requests without the token (401, kept open) leave both places to viewers who
    have it; a third viewer is told 503, and gets in once one leaves."""
    server = MjpegServer("127.0.0.1", 0, TOKEN, max_clients=2)
    publisher = Publisher(server)
    port = server.port
    held: list[socket.socket] = []
    try:
        for i in range(1, 11):
            s = socket.create_connection(("127.0.0.1", port), 5, source_address=(f"127.0.6.{i}", 0))
            s.sendall(b"GET /stream.mjpg HTTP/1.1\r\n")
            held.append(s)
        for i in range(1, 11):
            s, status = open_stream(port, f"127.0.7.{i}")
            assert status == 401
            held.append(s)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        viewers = [open_stream(port, f"127.0.8.{i}", auth) for i in (1, 2)]
        held += [s for s, _ in viewers]
        assert [status for _, status in viewers] == [200, 200]
        status, answer = ask(port, "/stream.mjpg", headers=auth, source="127.0.8.3")
        assert status == 503 and b"Retry-After: 5" in answer
        viewers[0][0].close()
        wait_for(lambda: ask(port, "/stream.mjpg", headers=auth, first_bytes=200,
                             source="127.0.8.3")[0] == 200, 10, "the freed place")  # fmt: skip
    finally:
        for s in held:
            s.close()
        publisher.close()
        server.close()


@pytest.mark.timeout(60)
def test_a_viewer_that_takes_nothing_is_dropped_and_its_stream_freed():
    server = MjpegServer("127.0.0.1", 0, max_clients=1)
    publisher = Publisher(server)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))
    try:
        stalled.sendall(
            f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
        )
        time.sleep(1.0)
        assert ask(server.port, "/stream.mjpg", source="127.0.10.1")[0] == 503  # it holds the one
        start = time.monotonic()
        wait_for(lambda: ask(server.port, "/stream.mjpg", first_bytes=200,
                             source="127.0.10.2")[0] == 200,
                 WRITE_SECONDS + 10, "the stalled stream to be dropped")  # fmt: skip
        assert time.monotonic() - start >= WRITE_SECONDS - 2.0
    finally:
        stalled.close()
        publisher.close()
        server.close()


def test_an_oversized_head_is_refused_and_the_server_goes_on(page):
    many = {f"X-Pad-{i}": "p" * 1000 for i in range(MAX_HEAD_BYTES // 1000 + 4)}
    assert ask(page.port, headers=many)[0] == 431
    status, _ = ask(page.port, headers={"X-Long": "p" * 20_000})
    assert status in (400, 431)
    assert ask(page.port)[0] == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "10.1.2.3", "", "[::1"])  # fmt: skip
def test_a_host_that_does_not_name_this_server_is_refused(page, host):
    for path in ("/", "/label.json", "/frame.jpg", "/stream.mjpg"):
        status, answer = ask(page.port, path, host=host)
        assert status == 403, (path, answer)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:{port}", "LOCALHOST.", "[::1]:{port}",
                                  "127.0.0.2:{port}", "camera.localhost"])  # fmt: skip
def test_loopback_names_and_addresses_are_this_server(page, host):
    assert ask(page.port, host=host.format(port=page.port))[0] == 200


class LiveCapture(LiveRun):
    @staticmethod
    def command() -> list[str]:
        import sys

        return [sys.executable, "-m", "edgecnn.cli", "capture"]


def test_dns_rebinding_and_other_sites_cannot_read_or_save_through_capture(camera, tmp_path):
    """The issue's case: on loopback (no token), a page at evil.example whose name now
    resolves to 127.0.0.1 asks with its own Host and Origin: 403 for the counts, the state
    and POST /capture, and nothing is saved. A page elsewhere posting to the real address
    (a foreign Origin) is refused too; the capture page itself (its own Origin) saves."""
    dataset = tmp_path / "set"
    run = LiveCapture("--source", camera.url, "--out", str(dataset), "--labels", "gear,key",
                      "--serve", "127.0.0.1:0", "--no-display", "--keep-duplicates")  # fmt: skip
    try:
        port = int(run.url().rsplit(":", 1)[1].strip("/"))
        foreign = {"host": f"evil.example:{port}"}
        evil_origin = {"Origin": f"http://evil.example:{port}"}
        post = {"method": "POST", "body": b'{"label": "key"}'}
        as_json = {"Content-Type": "application/json"}
        assert ask(port, "/label.json", **foreign, headers=evil_origin)[0] == 403
        assert ask(port, "/capture.json", **foreign, headers=evil_origin)[0] == 403
        assert (
            ask(port, "/capture", **foreign, **post, headers={**as_json, **evil_origin})[0] == 403
        )
        for origin in (f"http://evil.example:{port}", "null", f"http://127.0.0.1:{port + 1}"):
            status, _ = ask(port, "/capture", **post, headers={**as_json, "Origin": origin})
            assert status == 403, origin
        assert not list(dataset.glob("*/*.png"))

        status, reply = ask_json(port, "/capture", **post,
                                 headers={**as_json, "Origin": f"http://127.0.0.1:{port}"})  # fmt: skip
        assert status == 200 and reply["saved"] == "key/000001.png"
        status, reply = ask_json(port, "/capture", **post, headers=as_json)  # a script: no Origin
        assert status == 200 and reply["saved"] == "key/000002.png"
    finally:
        code = run.stop()
        run.close()
    assert code == 0, "".join(run.stderr)
    assert sorted(p.name for p in (dataset / "key").glob("*.png") if ".input" not in p.name) == [
        "000001.png", "000002.png"]  # fmt: skip


def test_beyond_loopback_a_foreign_host_is_refused_even_with_the_token():
    server = MjpegServer("0.0.0.0", 0, TOKEN)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert ask(server.port, headers=auth)[0] == 200
        assert (
            ask(server.port, headers=auth, host=f"{socket.gethostname()}:{server.port}")[0] == 200
        )
        assert ask(server.port, headers=auth, host="evil.example")[0] == 403
    finally:
        server.close()


@pytest.mark.parametrize(
    ("serve_host", "host", "local", "allowed"),
    [
        ("::", "192.168.1.7:8080", "::ffff:192.168.1.7", True),  # IPv4 on a dual-stack socket
        ("::", "192.168.1.8:8080", "::ffff:192.168.1.7", False),
        ("0.0.0.0", "[fe80::1]:8080", "fe80::1%eth0", True),
        ("0.0.0.0", f"{socket.gethostname()}.local", "192.168.1.7", True),
        ("camera.home.arpa", "camera.home.arpa:8080", "192.168.1.7", True),
        ("0.0.0.0", "camera.home.arpa:8080", "192.168.1.7", False),
        ("0.0.0.0", "[::ffff:127.0.0.1]", None, True),
        ("0.0.0.0", "127.0.0.1:http", None, False),
    ],
)  # fmt: skip
def test_which_hosts_name_this_server(serve_host, host, local, allowed):
    assert RequestNames(serve_host).allows_host(host, local) is allowed


def test_an_address_it_cannot_listen_on_says_why():
    taken = MjpegServer("127.0.0.1", 0)
    try:
        with pytest.raises(EdgeCnnError, match="the port is in use: pick another port"):
            MjpegServer("127.0.0.1", taken.port)
    finally:
        taken.close()
    with pytest.raises(EdgeCnnError, match="not an address of this machine"):
        MjpegServer("192.0.2.1", 0, TOKEN)  # TEST-NET-1: never this machine's


def test_a_post_body_nested_thousands_deep_is_a_bad_request(capfd):
    """JSON nested 3,000 deep fits in the 4 KB a POST may hold, and made json.loads raise
    RecursionError: a traceback in the server's log and a 500 (found by the fuzz suite)."""
    from edgecnn.device.outputs.routes import Reply

    server = MjpegServer("127.0.0.1", 0, post_routes={"/capture": lambda body: Reply.json({})})
    try:
        status, answer = ask(server.port, "/capture", method="POST", body=b"[" * 3000,
                             headers={"Content-Type": "application/json"})  # fmt: skip
        assert status == 400 and b"not JSON" in answer
        assert ask(server.port, "/capture", method="POST", body=b"{}",
                   headers={"Content-Type": "application/json"})[0] == 200  # fmt: skip
    finally:
        server.close()
    assert "Traceback" not in capfd.readouterr().err
