"""`--serve` under load: threads, memory and latency with 100 viewers and 10 slow ones, and
with slow-header attackers (slowloris).

A server process (this file run with `--child`, which needs only `edgecnn` and OpenCV, so
another checkout's Python can run it: `--server-python`) serves 640x480 frames of camera-like
noise at 25 FPS from a loop that does a fixed piece of work per frame, as `edgecnn run` does
(preprocessing, annotation, Python glue). Against it, from this process (asyncio, one
thread, all on 127.0.0.1):

* `idle`: no viewer, 5 s.
* `crowd`: 100 viewers, each a stream (/stream.mjpg) and a /label.json poll every second on
  a new connection, and 10 slow viewers (a stream read at about 20 KB/s), 20 s.
* `slowloris_one_client`: the issue's case: 8 connections from one address, each sending a
  header line every 2 s and never ending its head (reconnecting 0.2 s after it is
  dropped), 15 s.
* `slowloris_many_clients`: 64 such connections from 8 addresses, 15 s.

A viewer reports its frames per second, and one in ten, once a second, the age of the frame
it just received (the loop stamps the time into each frame). Throughout, a probe asks for
/label.json every 100 ms on a new connection and times it; the
server's threads and RSS are read from /proc every 200 ms; the loop reports the time its
fixed work took per frame (the loop's share of the CPU and the GIL). The crowd uses a server
with --serve-max-clients 128, the slowloris cases one with the default (4).

    .venv/bin/python -m bench.serve_load [--server-python OTHER/.venv/bin/python] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "serve_load.json"
LOOP_FPS = 25.0
CROWD, SLOW = 100, 10
CROWD_MAX_CLIENTS = 128
PHASE_SECONDS = {"idle": 5.0, "crowd": 20.0, "slowloris": 15.0}
PROBE_EVERY_S = 0.1
SAMPLE_EVERY_S = 0.2
SLOW_HEADER_EVERY_S = 2.0


# --- the server process --------------------------------------------------------------------


def camera_like_frames(count: int = 8):
    """640x480 BGR frames with a moving shape over sensor-like noise (JPEGs of camera size)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    frames = []
    for i in range(count):
        frame = np.full((480, 640, 3), 110, np.uint8)
        cv2.circle(frame, (120 + 50 * i, 240), 90, (40, 160, 220), -1)
        noise = rng.normal(0, 6, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return frames


def loop_work(frame) -> None:
    """About what the live loop does per frame besides inference: a resize, a few drawing
    calls, a little Python."""
    import cv2

    small = cv2.resize(frame, (28, 28), interpolation=cv2.INTER_AREA)
    shown = frame.copy()
    cv2.rectangle(shown, (10, 10), (300, 60), (0, 0, 0), -1)
    cv2.putText(shown, f"item {int(small.mean())}", (20, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.2,
                (255, 255, 255), 2)  # fmt: skip
    sum(i * i for i in range(3000))
    return shown


STAMP_BITS, STAMP_BLOCK = 32, 40  # two rows of 16 blocks across the 640 pixels


def stamp(frame, milliseconds: int) -> None:
    """Write the time (ms of the monotonic clock, which every process shares) into the
    frame's top as 32 black or white 40x40 blocks, which survive JPEG and a 1/8 decode."""
    for bit in range(STAMP_BITS):
        row, column = divmod(bit, 16)
        on = (milliseconds >> bit) & 1
        frame[row * STAMP_BLOCK : (row + 1) * STAMP_BLOCK,
              column * STAMP_BLOCK : (column + 1) * STAMP_BLOCK] = 255 if on else 0  # fmt: skip


def read_stamp(jpeg: bytes) -> int | None:
    """The time stamped into a frame, from a decode at 1/8 size (cheap for the client)."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if image is None:
        return None
    value = 0
    for bit in range(STAMP_BITS):
        row, column = divmod(bit, 16)
        value |= int(image[row * 5 + 2, column * 5 + 2] > 128) << bit
    return value


def now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


def child(max_clients: int) -> int:
    """Serve on 127.0.0.1:0; print {"port", "pid"}; read phase names on stdin; at EOF print
    the loop's work times per phase."""
    from edgecnn.device.outputs.mjpeg import MjpegServer

    frames = camera_like_frames()
    server = MjpegServer("127.0.0.1", 0, None, max_clients)
    print(json.dumps({"port": server.port, "pid": os.getpid()}), flush=True)
    phase = ["start"]
    work: dict[str, list[float]] = {}
    stop = threading.Event()

    def read_phases() -> None:
        for line in sys.stdin:
            phase[0] = line.strip()
        stop.set()

    threading.Thread(target=read_phases, daemon=True).start()
    index = 0
    next_tick = time.perf_counter()
    while not stop.is_set():
        start = time.perf_counter()
        shown = loop_work(frames[index % len(frames)])
        work.setdefault(phase[0], []).append(time.perf_counter() - start)
        stamp(shown, now_ms())
        server.show(shown, {"frame": index, "label": "item", "score": 0.9, "fps": LOOP_FPS})
        index += 1
        next_tick += 1 / LOOP_FPS
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    server.close()
    print(json.dumps({name: summary_ms(times) for name, times in work.items()}), flush=True)
    return 0


# --- the load ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary_ms(seconds: list[float]) -> dict:
    p50, p99 = percentile(seconds, 50), percentile(seconds, 99)
    return {
        "n": len(seconds),
        "p50_ms": None if p50 is None else round(1000 * p50, 2),
        "p99_ms": None if p99 is None else round(1000 * p99, 2),
        "max_ms": round(1000 * max(seconds), 2) if seconds else None,
    }


class Server:
    """A child server process and its /proc figures."""

    def __init__(self, python: str, max_clients: int) -> None:
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--child", "--max-clients", str(max_clients)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        hello = json.loads(self.proc.stdout.readline())
        self.port, self.pid = hello["port"], hello["pid"]

    def phase(self, name: str) -> None:
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()

    def status(self) -> dict:
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.split()[0] if value.split() else ""
        return {"threads": int(fields["Threads"]), "rss_mb": int(fields["VmRSS"]) / 1024}

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def finish(self) -> dict:
        self.proc.stdin.close()
        work = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return work


async def sample(server: Server, until: float, samples: list[dict]) -> None:
    while time.monotonic() < until:
        samples.append(server.status())
        await asyncio.sleep(SAMPLE_EVERY_S)


async def get(port: int, path: str, source: str = "127.0.0.1", timeout: float = 10.0):
    """(status, seconds) of one GET on a new connection; status is an error name on failure."""
    start = time.perf_counter()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), timeout
        )
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Connection: close\r\n\r\n".encode())  # fmt: skip
        body = await asyncio.wait_for(reader.read(), timeout)
        status = int(body.split(b" ", 2)[1]) if body.startswith(b"HTTP/") else "no answer"
    except (OSError, asyncio.TimeoutError) as exc:
        status = type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
    return status, time.perf_counter() - start


async def probe(port: int, until: float, results: list[tuple]) -> None:
    while time.monotonic() < until:
        results.append(await get(port, "/label.json"))
        await asyncio.sleep(PROBE_EVERY_S)


async def viewer(
    port: int, source: str, until: float, slow: bool, counts: dict, sampled: bool = False
) -> None:
    """A stream read at full speed, or at about 20 KB/s (`slow`, with a small buffer), and
    for a full-speed viewer a /label.json poll every second as the page does. Each viewer
    comes from an address of its own (`source`), as viewers on a network do."""
    import socket

    sock = socket.socket()
    if slow:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
    except OSError:
        counts["refused"] = counts.get("refused", 0) + 1
        return
    writer.write(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    poll = None if slow else asyncio.ensure_future(poll_label(port, source, until))
    received, frames, head = 0, 0, b""
    ages = FrameAges(counts.setdefault("ages", [])) if sampled else None
    counts.setdefault("ages", [])
    try:
        while time.monotonic() < until:
            chunk = await asyncio.wait_for(reader.read(1024 if slow else 65536), 10)
            if not chunk:
                break
            if not head:
                head = chunk[:12]
            received += len(chunk)
            frames += chunk.count(b"Content-Type: image/jpeg")
            if ages is not None:
                ages.feed(chunk)
            if slow:
                await asyncio.sleep(0.05)
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()
        if poll is not None:
            poll.cancel()
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
    counts.setdefault("status", {}).setdefault(status, 0)
    counts["status"][status] += 1
    counts.setdefault("frames", []).append(frames)
    counts.setdefault("bytes", []).append(received)


class FrameAges:
    """Once a second, the age of the next whole frame a viewer receives (now minus the
    time stamped into it when the loop published it)."""

    def __init__(self, ages: list[float]) -> None:
        self.ages = ages
        self.buffer = b""
        self.next_at = time.monotonic() + 1.0

    def feed(self, chunk: bytes) -> None:
        if time.monotonic() < self.next_at:
            return
        self.buffer += chunk
        start = self.buffer.find(b"Content-Length: ")
        end = self.buffer.find(b"\r\n\r\n", start)
        if start < 0 or end < 0:
            return
        size = int(self.buffer[start + 16 : end])
        if len(self.buffer) < end + 4 + size:
            return
        stamped = read_stamp(self.buffer[end + 4 : end + 4 + size])
        if stamped is not None:
            self.ages.append(((now_ms() - stamped) & 0xFFFFFFFF) / 1000)
        self.buffer = b""
        self.next_at = time.monotonic() + 1.0


async def poll_label(port: int, source: str, until: float) -> None:
    while time.monotonic() < until:
        await get(port, "/label.json", source)
        await asyncio.sleep(1.0)


async def slow_header_sender(port: int, source: str, until: float, counts: dict) -> None:
    """Open, send a request line and then a header line every SLOW_HEADER_EVERY_S, never the
    end of the head; when the server drops the connection, open another."""
    while time.monotonic() < until:
        writer = None
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
            writer.write(f"GET /label.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
            counts["connections"] = counts.get("connections", 0) + 1
            line = 0
            while time.monotonic() < until:
                try:
                    answer = await asyncio.wait_for(reader.read(1024), SLOW_HEADER_EVERY_S)
                except asyncio.TimeoutError:
                    writer.write(f"X-Slow-{line}: {line}\r\n".encode())
                    await writer.drain()
                    line += 1
                    continue
                if answer.startswith(b"HTTP/"):
                    key = answer.split(b" ", 2)[1].decode()
                    counts.setdefault("answers", {}).setdefault(key, 0)
                    counts["answers"][key] += 1
                break  # answered or closed: reconnect
        except OSError:
            pass
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(0.2)


def latency_report(results: list[tuple]) -> dict:
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    ok = [seconds for status, seconds in results if status == 200]
    return {"statuses": statuses, "ok_fraction": round(len(ok) / max(1, len(results)), 3),
            **summary_ms(ok)}  # fmt: skip


def resource_report(samples: list[dict]) -> dict:
    return {
        "threads_max": max(s["threads"] for s in samples),
        "rss_mb_max": round(max(s["rss_mb"] for s in samples), 1),
        "rss_mb_end": round(samples[-1]["rss_mb"], 1),
    }


async def phase(server: Server, name: str, seconds: float, load) -> dict:
    server.phase(name)
    until = time.monotonic() + seconds
    samples: list[dict] = []
    probes: list[tuple] = []
    extra: dict = {}
    cpu, client_cpu = server.cpu_seconds(), time.process_time()
    await asyncio.gather(sample(server, until, samples), probe(server.port, until, probes),
                         *load(until, extra))  # fmt: skip
    cpu, client_cpu = server.cpu_seconds() - cpu, time.process_time() - client_cpu
    await asyncio.sleep(1.0)  # let the server let go
    return {"seconds": seconds, "label_json": latency_report(probes), "server_cpu_s": round(cpu, 2),
            "load_client_cpu_s": round(client_cpu, 2),
            **resource_report(samples), "after": server.status(), **summarise(extra)}  # fmt: skip


def summarise(extra: dict) -> dict:
    out = {}
    for key, counts in extra.items():
        if isinstance(counts, dict) and "frames" in counts:
            frames = counts.pop("frames")
            received = counts.pop("bytes")
            ages = counts.pop("ages", [])
            if ages:
                counts["frame_age"] = summary_ms(ages)
            counts["frames"] = sum(frames)
            counts["fps_p50"] = round(percentile(frames, 50) / PHASE_SECONDS["crowd"], 1)
            counts["fps_min"] = round(min(frames) / PHASE_SECONDS["crowd"], 1)
            counts["kb_per_s_p50"] = round(
                percentile(received, 50) / 1024 / PHASE_SECONDS["crowd"], 1
            )
        out[key] = counts
    return out


async def measure(python: str) -> dict:
    result: dict = {}
    crowd_server = Server(python, CROWD_MAX_CLIENTS)
    port = crowd_server.port
    result["idle"] = await phase(crowd_server, "idle", PHASE_SECONDS["idle"], lambda u, x: [])

    def crowd(until: float, extra: dict):
        extra["viewers"], extra["slow_viewers"] = {}, {}
        return [
            viewer(port, f"127.0.2.{i + 1}", until, False, extra["viewers"], i % 10 == 0)
            for i in range(CROWD)
        ] + [
            viewer(port, f"127.0.3.{i + 1}", until, True, extra["slow_viewers"])
            for i in range(SLOW)
        ]

    result["crowd"] = await phase(crowd_server, "crowd", PHASE_SECONDS["crowd"], crowd)
    result["loop_work"] = crowd_server.finish()

    default_server = Server(python, 4)

    def slowloris(sources: list[str], per_source: int):
        def load(until: float, extra: dict):
            extra["attackers"] = {}
            return [slow_header_sender(default_server.port, s, until, extra["attackers"])
                    for s in sources for _ in range(per_source)]  # fmt: skip

        return load

    result["slowloris_one_client"] = await phase(
        default_server, "slowloris_one", PHASE_SECONDS["slowloris"], slowloris(["127.0.0.1"], 8)
    )
    sources = [f"127.0.1.{i}" for i in range(1, 9)]
    result["slowloris_many_clients"] = await phase(
        default_server, "slowloris_many", PHASE_SECONDS["slowloris"], slowloris(sources, 8)
    )
    result["loop_work_default_server"] = default_server.finish()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-clients", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--server-python", default=sys.executable,
                        help="the Python whose edgecnn serves (another checkout's venv)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULT, help="where the JSON goes")
    args = parser.parse_args()
    if args.child:
        return child(args.max_clients)
    from bench.common import load_average
    from edgecnn.atomic import atomic_write_text

    started = time.perf_counter()
    result = {
        "server_python": args.server_python,
        "load_average_before": load_average(),
        **asyncio.run(measure(args.server_python)),
        "load_average_after": load_average(),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(result, indent=2)
    atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
