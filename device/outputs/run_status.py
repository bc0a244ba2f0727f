"""What the --serve page says about the run beside the newest frame: the "run" field of its
/label.json.

    {"started": ISO time, "uptime_s": seconds,
     "source": {"description", "state": "playing" | "ended", "fps": its pace or null,
                "skipped": frames skipped to keep pace},
     "model": {"sha256", "labels", "file", "backend", "reloads", "refused", "last_reload"},
     "mqtt": {"url", "connected", "outages", "published", "dropped"} or null}

Each part is asked of what knows it (the source, the model reloader, the MQTT publisher)
when a request comes, never pushed by the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

from edgecnn.device.sources.frames import FrameSource


class RunStatus:
    """The run's facts for the page (see the module's docstring)."""

    def __init__(self, source: FrameSource, model: Callable[[], dict]) -> None:
        self.source, self.model = source, model
        self.started = time.time()
        self.source_state = "playing"
        self.mqtt: Callable[[], dict] | None = None

    def as_json(self) -> dict:
        return {
            "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(
                timespec="seconds"
            ),
            "uptime_s": round(time.time() - self.started, 1),
            "source": {
                "description": self.source.description,
                "state": self.source_state,
                "fps": self.source.fps,
                "skipped": getattr(self.source, "skipped", 0),
            },
            "model": self.model(),
            "mqtt": self.mqtt() if self.mqtt is not None else None,
        }
