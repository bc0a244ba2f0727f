"""`--mqtt mqtt://[user@]host[:port]/topic/prefix`: results where Home Assistant, Node-RED or
a dashboard listens. `mqtts://` uses TLS (port 8883 unless given).

Topics, for a PREFIX of `edgecnn/kitchen`:

    PREFIX/state         {"frame", "time", "label", "class_id", "score", "top": [...],
                          "stable": {"label", "class_id", "changed"}, "model", "fps"}: the
                         frame's result as --json prints it (without the latencies): its own answer
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

This module is the vocabulary (the URL, the options, the messages, Home Assistant discovery)
and needs no paho-mqtt; `mqtt_client.BackgroundPublisher` is the connection (paho-mqtt), off
the frame loop, which never waits for the broker; `mqtt_presenter.MqttPresenter` decides what
to publish and when.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from edgecnn import __version__
from edgecnn.device.outputs.secret_file import read_secret_file
from edgecnn.errors import EdgeCnnError, hide_passwords

PASSWORD_ENV = "EDGECNN_MQTT_PASSWORD"
PASSWORD_FILE_ENV = "EDGECNN_MQTT_PASSWORD_FILE"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
DEFAULT_INTERVAL = 5.0
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
QUEUE_SIZE = 100
QOS = 1
STABLE_LABEL_TEMPLATE = "{{ value_json.stable.label if value_json.stable else 'unknown' }}"
URL_FORM = "give mqtt://[user@]host[:port]/topic/prefix (mqtts:// for TLS)"
MAX_STRING_BYTES = 65535  # MQTT's strings (topics, user, password) have a 16-bit length
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    shown = hide_passwords(str(text))  # messages never repeat a password
    shown = shown if len(shown) <= 120 else shown[:100] + "..."

    def bad(problem: str) -> EdgeCnnError:
        return EdgeCnnError(f"--mqtt {shown!r}: {problem}: {URL_FORM}")

    if "#" in str(text):  # it would read as a #fragment
        raise bad("the topic prefix has a wildcard (+, #)")
    try:
        url = urlsplit(str(text).strip())
        port = url.port
    except ValueError as exc:  # "Invalid IPv6 URL", a port that is not a number
        if "port" in str(exc).lower():
            raise bad("the port must be a number 1..65535") from None
        raise bad(f"{exc} (an IPv6 address goes in closed brackets: [::1])") from None
    scheme = url.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise bad(f"the scheme must be mqtt or mqtts, not {url.scheme or 'none'!r}")
    if url.password is not None:
        raise EdgeCnnError(
            f"--mqtt {shown!r}: keep the password out of the URL (ps and the shell history show "
            f"it): set ${PASSWORD_ENV} or use --mqtt-password-file"
        )
    if not url.hostname:
        raise bad("no host")
    if port == 0:
        raise bad("the port must be a number 1..65535")
    if url.query:
        raise bad("no ?query")
    prefix = unquote(url.path).strip("/")
    if not prefix:
        raise bad("no topic prefix")
    problem = topic_problem(prefix)
    if problem is not None:
        raise bad(f"the topic prefix {prefix[:40]!r}{'...' if len(prefix) > 40 else ''} {problem}")
    username = unquote(url.username) if url.username else None
    if username is not None:
        problem = string_problem(username)
        if problem is None and CONTROL_CHARACTERS.search(username):
            problem = "has a control character"
        if problem is not None:
            raise bad(f"the user name {problem}")
    return MqttTarget(
        scheme == "mqtts", url.hostname, port or DEFAULT_PORTS[scheme], prefix, username
    )


def string_problem(text: str) -> str | None:
    """Why `text` cannot be an MQTT string (a user, a password), or None."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # bytes of another encoding on the command line
        return "is not valid UTF-8"
    if size > MAX_STRING_BYTES:
        return f"is longer than MQTT's {MAX_STRING_BYTES} bytes"
    return None


def topic_problem(topic: str) -> str | None:
    """Why `topic` cannot be published to, or None: MQTT allows up to 65,535 bytes of UTF-8,
    no wildcards (+, #), no empty level, no control characters; '$' starts the broker's own
    topics ($SYS)."""
    if any(c in topic for c in "+#"):
        return "has a wildcard (+, #)"
    if "" in topic.split("/"):
        return "has an empty level"
    if CONTROL_CHARACTERS.search(topic):
        return "has a control character"
    try:
        topic.encode("utf-8")
    except UnicodeEncodeError:  # bytes of another encoding on the command line
        return "is not valid UTF-8"
    if topic.startswith("$"):
        return "starts with '$', which brokers keep for themselves"
    if len(topic.encode("utf-8")) > MAX_STRING_BYTES:
        return f"is longer than MQTT's {MAX_STRING_BYTES} bytes"
    return None


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
    if password is not None and (problem := string_problem(password)) is not None:
        raise EdgeCnnError(f"the MQTT password {problem}")
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
        problem = topic_problem(discovery_prefix) if discovery_prefix else "is empty"
        if problem is not None:
            raise EdgeCnnError(
                f"--mqtt-discovery {discovery_prefix[:40]!r} {problem}: give a topic prefix such "
                "as homeassistant"
            )
    topics = [target.state_topic, target.availability_topic]
    topics += discovery_configs(target, discovery_prefix) if discovery_prefix else []
    longest = max(len(topic.encode("utf-8")) for topic in topics)
    if longest > MAX_STRING_BYTES:
        raise EdgeCnnError(
            f"--mqtt {target.url[:60]}...: a topic would be {longest} bytes long, more than "
            f"MQTT's {MAX_STRING_BYTES}: shorten the topic prefix"
        )
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
