"""`--mqtt mqtt://[user@]host[:port]/topic/prefix`: results where Home Assistant, Node-RED or
a dashboard listens. `mqtts://` uses TLS (port 8883 unless given).

Topics, for a PREFIX of `edgecnn/kitchen`:

    PREFIX/state         {"frame", "time", "label", "class_id", "score", "top": [...],
                          "stable": {"label", "class_id", "changed"}}: the frame's own answer
                         and the stable state (--stable N: the answer N frames in a row
                         agreed on; null until one has). QoS 1, retained (a new subscriber
                         gets the current state at once): sent when the stable state changes
                         ("changed": true), and every --mqtt-interval seconds
    PREFIX/model         {"sha256", "labels", "file", "frame"}: the model that answers (its
                         file's SHA-256 and its classes) from `frame` on; QoS 1, retained: sent
                         with the first result, whenever a new model is taken (hot reload), and
                         on every connect
    PREFIX/availability  "online", QoS 1, retained, on every connect; "offline", QoS 1,
                         retained, as the last will (the broker sends it when the run dies or
                         its connection does) and on a clean exit
    homeassistant/sensor/NODE/{label,score,model}/config
                         with --mqtt-discovery: Home Assistant MQTT discovery, QoS 1, retained,
                         sent on every connect, so the sensors appear with no YAML
                         (NODE: the prefix with / as _, e.g. edgecnn_kitchen)

QoS 1 means the broker acknowledges every message, and unacknowledged ones are sent again
after a reconnect (a subscriber may see a message twice: `frame` tells them apart).

The password is never on the command line: `EDGECNN_MQTT_PASSWORD`, or
`--mqtt-password-file` (`EDGECNN_MQTT_PASSWORD_FILE`).

The frame loop never waits for the broker (`mqtt_client.BackgroundPublisher`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from edgecnn import __version__
from edgecnn.console import echo
from edgecnn.device.inference.postprocess import ModelId
from edgecnn.device.loop import FrameResult, Presenter
from edgecnn.device.outputs.presenters import prediction_record
from edgecnn.device.outputs.secret_file import read_secret_file
from edgecnn.errors import EdgeCnnError

PASSWORD_ENV = "EDGECNN_MQTT_PASSWORD"
PASSWORD_FILE_ENV = "EDGECNN_MQTT_PASSWORD_FILE"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
DEFAULT_INTERVAL = 5.0
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
QUEUE_SIZE = 100
QOS = 1
STABLE_LABEL_TEMPLATE = "{{ value_json.stable.label if value_json.stable else 'unknown' }}"
URL_FORM = "give mqtt://[user@]host[:port]/topic/prefix (mqtts:// for TLS)"


class Message(NamedTuple):
    topic: str
    payload: str
    qos: int
    retain: bool


@dataclass(frozen=True)
class MqttTarget:
    """Where to publish, from the --mqtt URL (which never holds a password)."""

    tls: bool
    host: str
    port: int
    prefix: str
    username: str | None = None

    @property
    def url(self) -> str:
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}/{self.prefix}"

    @property
    def state_topic(self) -> str:
        return f"{self.prefix}/state"

    @property
    def model_topic(self) -> str:
        return f"{self.prefix}/model"

    @property
    def availability_topic(self) -> str:
        return f"{self.prefix}/availability"

    @property
    def node_id(self) -> str:
        """The prefix as a Home Assistant node id ([a-zA-Z0-9_-])."""
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.prefix)


def parse_mqtt_url(text: str) -> MqttTarget:
    """`mqtt://[user@]host[:port]/topic/prefix` or `mqtts://...` -> MqttTarget."""

    def bad(problem: str) -> EdgeCnnError:
        return EdgeCnnError(f"--mqtt {text!r}: {problem}: {URL_FORM}")

    if "#" in str(text):  # it would read as a #fragment
        raise bad("the topic prefix has a wildcard (+, #)")
    url = urlsplit(str(text).strip())
    scheme = url.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise bad(f"the scheme must be mqtt or mqtts, not {url.scheme or 'none'!r}")
    if url.password is not None:
        raise EdgeCnnError(
            f"--mqtt: keep the password out of the URL (ps and the shell history show it): "
            f"set ${PASSWORD_ENV} or use --mqtt-password-file"
        )
    if not url.hostname:
        raise bad("no host")
    try:
        port = url.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise bad("the port must be a number 1..65535") from None
    if url.query:
        raise bad("no ?query")
    prefix = unquote(url.path).strip("/")
    if not prefix:
        raise bad("no topic prefix")
    if any(c in prefix for c in "+#\0") or "" in prefix.split("/"):
        raise bad(f"the topic prefix {prefix!r} has an empty level or a wildcard (+, #)")
    username = unquote(url.username) if url.username else None
    return MqttTarget(scheme == "mqtts", url.hostname, port, prefix, username)


@dataclass(frozen=True)
class MqttOptions:
    target: MqttTarget
    password: str | None = None
    interval: float = DEFAULT_INTERVAL
    discovery_prefix: str | None = None
    ca_file: Path | None = None
    queue_size: int = QUEUE_SIZE


def mqtt_options(
    url: str,
    interval: float = DEFAULT_INTERVAL,
    password_file: str | Path | None = None,
    discovery_prefix: str | None = None,
    ca_file: str | Path | None = None,
) -> MqttOptions:
    """Everything `--mqtt` needs, checked before the run starts (bad input: one line)."""
    target = parse_mqtt_url(url)
    if importlib.util.find_spec("paho") is None:
        raise EdgeCnnError("--mqtt needs paho-mqtt: pip install 'edgecnn[mqtt]'")
    if password_file is not None:
        password = read_secret_file(password_file, "--mqtt-password-file")
    else:
        password = os.environ.get(PASSWORD_ENV) or None
    if password is not None and target.username is None:
        raise EdgeCnnError(
            f"--mqtt {target.url}: a password is given but no user: put it in the URL "
            "(mqtt://user@host/...)"
        )
    if ca_file is not None:
        if not target.tls:
            raise EdgeCnnError("--mqtt-ca-file is for mqtts:// (TLS) URLs")
        if not Path(ca_file).is_file():
            raise EdgeCnnError(f"--mqtt-ca-file {ca_file}: no such file: give the CA's PEM file")
    if discovery_prefix is not None:
        discovery_prefix = discovery_prefix.strip("/")
        if not discovery_prefix or any(c in discovery_prefix for c in "+#"):
            raise EdgeCnnError(f"--mqtt-discovery {discovery_prefix!r}: give a topic prefix")
    return MqttOptions(
        target, password, interval, discovery_prefix, Path(ca_file) if ca_file else None
    )


def discovery_configs(target: MqttTarget, discovery_prefix: str) -> dict[str, dict]:
    """Home Assistant MQTT discovery: topic -> config of the label and score sensors."""
    node = target.node_id
    device = {
        "identifiers": [f"edgecnn_{node}"],
        "name": f"edgecnn {target.prefix}",
        "model": "edgecnn live classifier",
        "manufacturer": "edgecnn",
        "sw_version": __version__,
    }
    common = {
        "state_topic": target.state_topic,
        "availability_topic": target.availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
    }
    return {
        f"{discovery_prefix}/sensor/{node}/label/config": {
            **common,
            "name": "Label",
            "unique_id": f"edgecnn_{node}_label",
            # The stable state: what automations should act on; the frame's own answer is
            # an attribute.
            "value_template": STABLE_LABEL_TEMPLATE,
            "json_attributes_topic": target.state_topic,
            "json_attributes_template": (
                "{{ {'class_id': value_json.stable.class_id if value_json.stable else none, "
                "'frame_label': value_json.label, 'score': value_json.score, "
                "'top': value_json.top, 'frame': value_json.frame} | tojson }}"
            ),
            "icon": "mdi:tshirt-crew",
        },
        f"{discovery_prefix}/sensor/{node}/score/config": {
            **common,
            "name": "Score",
            "unique_id": f"edgecnn_{node}_score",
            "value_template": "{{ (value_json.score * 100) | round(1) }}",
            "unit_of_measurement": "%",
            "state_class": "measurement",
            "icon": "mdi:percent",
        },
        f"{discovery_prefix}/sensor/{node}/model/config": {
            **common,
            "state_topic": target.model_topic,
            "name": "Model",
            "unique_id": f"edgecnn_{node}_model",
            "value_template": "{{ value_json.sha256[:12] }}",
            "json_attributes_topic": target.model_topic,
            "entity_category": "diagnostic",
            "icon": "mdi:brain",
        },
    }


class MqttPresenter(Presenter):
    """Hands a result to the background publisher when the stable state changes, and every
    `interval` seconds; never waits for the network."""

    def __init__(self, options: MqttOptions) -> None:
        from edgecnn.device.outputs.mqtt_client import (
            BackgroundPublisher,  # paho-mqtt: only when --mqtt is used
        )

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
        record = {"frame": result.index, "time": round(result.time, 4)}
        record.update(prediction_record(result.prediction))
        message = Message(self.options.target.state_topic, json.dumps(record), QOS, True)
        self.publisher.submit(message)

    def close(self) -> None:
        counts = self.publisher.close()
        echo(
            f"edgecnn: mqtt: {counts.results} results: {counts.published} published, "
            f"{counts.dropped} dropped while the broker was away, {counts.unsent} unsent at exit; "
            f"{counts.outages} outage(s)"
        )
