"""The newest annotated frame, from the loop's thread to the page server's event loop.

The loop hands over each frame (`publish`: a lock held for an assignment, and a wake-up of
the event loop only when a viewer waits). The JPEG is encoded once per frame, on a worker
thread, when the first viewer asks, however many watch. Nothing queues: a viewer that falls
behind gets the newest frame next.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading

import cv2
import numpy as np

JPEG_QUALITY = 80


def encode_jpeg(image: np.ndarray) -> bytes | None:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return buffer.tobytes() if ok else None


class LatestFrame:
    """The newest annotated frame and its JPEG: published from any thread, read on the
    event loop. Nothing queues: a viewer that falls behind gets the newest frame next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sequence = 0
        self._image: np.ndarray | None = None
        self._jpeg: bytes | None = None
        self._jpeg_sequence = -1
        self.closing = False
        self.served = 0
        self._waiting = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self._encode_lock: asyncio.Lock | None = None
        self._encoder = concurrent.futures.ThreadPoolExecutor(1, "edgecnn-jpeg")

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called on the event loop, before any viewer."""
        self._loop = loop
        self._arrived = asyncio.Event()
        self._encode_lock = asyncio.Lock()

    def publish(self, image: np.ndarray) -> None:
        """The loop's newest frame; wakes the viewers that wait (when any do)."""
        with self._lock:
            self._image = image
            self.sequence += 1
        if self._waiting and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the event loop has just stopped
                self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    async def next_jpeg(self, sequence: int) -> tuple[int, bytes | None]:
        """Wait for a frame newer than `sequence`: (its sequence, its JPEG), or (sequence,
        None) once closing."""
        self._waiting += 1
        try:
            while self.sequence <= sequence and not self.closing:
                await self._arrived.wait()
        finally:
            self._waiting -= 1
        return await self._encoded(sequence)

    async def newest_jpeg(self, timeout: float) -> bytes | None:
        """The newest frame's JPEG, waiting up to `timeout` for the first frame."""
        if self.sequence == 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.next_jpeg(0), timeout)
        return (await self._encoded(0))[1]

    async def _encoded(self, sequence: int) -> tuple[int, bytes | None]:
        with self._lock:
            newest, image = self.sequence, self._image
        if self.closing or image is None or newest <= sequence:
            return sequence, None
        async with self._encode_lock:  # one encoding per frame however many watch
            if self._jpeg_sequence < newest:
                loop = asyncio.get_running_loop()
                jpeg = await loop.run_in_executor(self._encoder, encode_jpeg, image)
                self._jpeg, self._jpeg_sequence = jpeg, newest
            return self._jpeg_sequence, self._jpeg

    def close(self) -> None:
        self.closing = True
        if self._arrived is not None:
            self._wake()
        self._encoder.shutdown(wait=False)
