"""`--mqtt`'s presenter: a result goes to the broker when the label changes, and every
--mqtt-interval seconds while it stays the same (topics and payloads: `mqtt.py`). Imported
only when --mqtt is used: it needs paho-mqtt (through `mqtt_client`)."""

from __future__ import annotations

import json
import time

from edgecnn.console import counted, echo
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.device.outputs.mqtt import QOS, Message, MqttOptions, discovery_configs
from edgecnn.device.outputs.mqtt_client import BackgroundPublisher
from edgecnn.device.outputs.presenters import result_record
from edgecnn.errors import EdgeCnnError


class MqttPresenter(Presenter):
    """Hands a result to the background publisher when the label changes, and every
    `interval` seconds while it stays the same; never waits for the network."""

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        target = options.target
        on_connect = [
            Message(topic, json.dumps(config), QOS, True)
            for topic, config in (
                discovery_configs(target, options.discovery_prefix).items()
                if options.discovery_prefix
                else ()
            )
        ]
        on_connect.append(Message(target.availability_topic, "online", QOS, True))
        self.publisher = BackgroundPublisher(
            options,
            will=Message(target.availability_topic, "offline", QOS, True),
            on_connect=on_connect,
        )
        self.last_label: str | None = None
        self.last_sent = 0.0

    def present(self, result: FrameResult) -> None:
        label = result.prediction.label
        now = time.monotonic()
        if label == self.last_label and now - self.last_sent < self.options.interval:
            return
        self.last_label, self.last_sent = label, now
        record = result_record(result, latency=False)
        message = Message(self.options.target.state_topic, json.dumps(record), QOS, True)
        self.publisher.submit(message)

    def close(self) -> None:
        counts = self.publisher.close()
        echo(
            f"edgecnn: mqtt: {counted(counts.results, 'result')}: {counts.published} published, "
            f"{counts.dropped} dropped while the broker was away, {counts.unsent} unsent at exit; "
            f"{counted(counts.outages, 'outage')}"
        )
        if self.publisher.stopped_by is not None:  # the run fails: the results went nowhere
            raise EdgeCnnError(f"mqtt {self.options.target.url}: {self.publisher.stopped_by}")
