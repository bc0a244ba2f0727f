"""`--mqtt`'s presenter: a result goes to the broker when the stable state changes, and
every --mqtt-interval seconds; the model's id when it is new (topics and payloads:
`mqtt.py`). Imported only when --mqtt is used: it needs paho-mqtt (through `mqtt_client`)."""

from __future__ import annotations

import json
import time

from edgecnn.console import counted, echo
from edgecnn.device.inference.postprocess import ModelId
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.device.outputs.mqtt import QOS, Message, MqttOptions, discovery_configs
from edgecnn.device.outputs.mqtt_client import BackgroundPublisher
from edgecnn.device.outputs.presenters import result_record
from edgecnn.errors import EdgeCnnError


class MqttPresenter(Presenter):
    """Hands a result to the background publisher when the stable state changes, and every
    `interval` seconds; never waits for the network."""

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
        self.last_sent: float | None = None
        self.model: ModelId | None = None

    def present(self, result: FrameResult) -> None:
        model = result.prediction.model
        if model is not None and model != self.model:  # the first result, or a new model
            self.model = model
            record = {**model.as_json(), "frame": result.index}
            self.publisher.announce(
                Message(self.options.target.model_topic, json.dumps(record), QOS, True)
            )
        stable = result.prediction.stable
        now = time.monotonic()
        news = self.last_sent is None or (stable is not None and stable.changed)
        if not news and now - self.last_sent < self.options.interval:
            return
        self.last_sent = now
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
