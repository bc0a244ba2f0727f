"""How many connections the `--serve` page holds, and whose: the book the server keeps.

A connection is *waiting* while the server waits for a request head on it (just opened, or
idle between two requests) and *busy* while a request is answered. The limits:

* a client (an IP address) holds at most `per_client` connections; more are answered 503;
* at most `max_connections` in all; when full, a new connection takes the place of the
  oldest waiting one, so connections that never finish their head (slowloris) cannot keep
  a viewer out, however many addresses they come from: a viewer's head comes in
  milliseconds, an attacker's never;
* streams are counted apart (`max_streams`), and only once a request for one has passed the
  checks: connections still sending their head, or refused, never take a viewer's stream.

The server gives every waiting connection a deadline for its whole head (`head_seconds`,
not restarted by each line that trickles in). Everything here runs on the server's event
loop thread: no locks.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

Connection = TypeVar("Connection")

HEAD_SECONDS = 5.0
MAX_CONNECTIONS = 256
MIN_PER_CLIENT = 16


@dataclass(frozen=True)
class Limits:
    max_streams: int
    max_connections: int = MAX_CONNECTIONS
    per_client: int = MIN_PER_CLIENT
    head_seconds: float = HEAD_SECONDS

    @classmethod
    def for_streams(cls, max_streams: int) -> Limits:
        """A client may hold a connection per stream the server allows, and one beside each
        for the page's polls (several viewers behind one address), and never fewer than
        MIN_PER_CLIENT."""
        per_client = max(MIN_PER_CLIENT, 2 * max_streams + 4)
        return cls(max_streams, max(MAX_CONNECTIONS, 2 * per_client), per_client)


class ConnectionBook(Generic[Connection]):
    """The open connections: their clients, which are waiting (oldest first), the streams."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.client_of: dict[Connection, str] = {}
        self.per_client: Counter[str] = Counter()
        self.waiting: OrderedDict[Connection, None] = OrderedDict()
        self.streams = 0
        self.refused = 0
        self.evicted = 0

    def admit(self, connection: Connection, client: str) -> tuple[bool, Connection | None]:
        """(whether `connection` may stay, the waiting connection it displaces or None)."""
        if self.per_client[client] >= self.limits.per_client:
            self.refused += 1
            return False, None
        displaced = None
        if len(self.client_of) >= self.limits.max_connections:
            if not self.waiting:
                self.refused += 1
                return False, None
            displaced = next(iter(self.waiting))
            self.release(displaced)
            self.evicted += 1
        self.client_of[connection] = client
        self.per_client[client] += 1
        self.waiting[connection] = None
        return True, displaced

    def busy(self, connection: Connection) -> None:
        """A request head arrived: no longer waiting, nor displaceable."""
        self.waiting.pop(connection, None)

    def idle(self, connection: Connection) -> None:
        """The answer is sent: waiting for the next head, newest in the queue."""
        if connection in self.client_of:
            self.waiting[connection] = None
            self.waiting.move_to_end(connection)

    def release(self, connection: Connection) -> None:
        """The connection closed (a connection never admitted is ignored)."""
        client = self.client_of.pop(connection, None)
        if client is None:
            return
        self.waiting.pop(connection, None)
        self.per_client[client] -= 1
        if not self.per_client[client]:
            del self.per_client[client]

    def start_stream(self) -> bool:
        if self.streams >= self.limits.max_streams:
            return False
        self.streams += 1
        return True

    def end_stream(self) -> None:
        self.streams -= 1

    def __len__(self) -> int:
        return len(self.client_of)
