"""What `--mqtt` is given, however wrong, and a publisher that dies: one line before the run
starts, or a warning and a failed run, never a traceback and exit 0. Against Debian's
mosquitto where a broker is needed."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from mosquitto_broker import Mosquitto, wait_for

from edgecnn.device.inference.postprocess import ClassScore, Prediction
from edgecnn.device.loop import FrameResult
from edgecnn.device.outputs.mqtt import MqttOptions, MqttTarget, mqtt_options, parse_mqtt_url
from edgecnn.device.outputs.mqtt_presenter import MqttPresenter
from edgecnn.errors import EdgeCnnError

LONG = "a" * 70_000


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mqtt://[::1/p", "Invalid IPv6 URL (an IPv6 address goes in closed brackets: [::1])"),
        ("mqtt://127.0.0.1:0/a", "the port must be a number 1..65535"),
        ("mqtt://127.0.0.1:65536/a", "the port must be a number 1..65535"),
        ("mqtt://127.0.0.1:-1/a", "the port must be a number 1..65535"),
        (f"mqtt://127.0.0.1/{LONG}", "is longer than MQTT's 65535 bytes"),
        ("mqtt://127.0.0.1/$SYS/x", "starts with '$'"),
        ("mqtt://127.0.0.1/a\x01b", "has a control character"),
        ("mqtt://127.0.0.1/a/+/b", "wildcard"),
        ("mqtt://127.0.0.1/a\udcffb", "is not valid UTF-8"),  # a Latin-1 byte on the command line
        ("mqtt://u\udcff@127.0.0.1/a", "the user name is not valid UTF-8"),
        (f"mqtt://{'u' * 70_000}@127.0.0.1/a", "the user name is longer than MQTT's 65535 bytes"),
    ],
)
def test_bad_urls_and_topics_are_one_short_line(url, message):
    """`mqtt://[::1/p` gave a traceback, port 0 became 1883, a 70,000-character topic went
    to paho (whose network thread died of it)."""
    with pytest.raises(EdgeCnnError) as error:
        parse_mqtt_url(url)
    text = str(error.value)
    assert message in text and "\n" not in text and len(text) < 500, text[:600]


def test_topics_that_grow_too_long_with_discovery_are_refused():
    prefix = "p" * 65_000  # fits; its discovery topics, with another 1000, do not
    with pytest.raises(EdgeCnnError, match="a topic would be 66"):
        mqtt_options(f"mqtt://127.0.0.1/{prefix}", discovery_prefix="d" * 1000)
    with pytest.raises(EdgeCnnError, match="--mqtt-discovery 'home/#' has a wildcard"):
        mqtt_options("mqtt://127.0.0.1/a", discovery_prefix="home/#")


def test_a_password_in_the_url_is_never_repeated():
    for url in (
        "mqtt://u:Secr3tPW@127.0.0.1/a/#",
        "mqtt://u:Secr3tPW@127.0.0.1/a",
        "mqtt://u:Secr3tPW@[::1/p",
    ):
        with pytest.raises(EdgeCnnError) as error:
            parse_mqtt_url(url)
        assert "Secr3tPW" not in str(error.value) and "u:***@" in str(error.value)


@pytest.fixture()
def broker(tmp_path):
    broker = Mosquitto(tmp_path)
    yield broker
    broker.stop()


def test_a_70000_character_topic_is_refused_before_the_run(tiny_tflite, broker):
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "run", "--model", str(tiny_tflite), "--source", "0",
         "--mqtt", broker.url(LONG)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("edgecnn: error: --mqtt ") and proc.stderr.count("\n") == 1
    assert "longer than MQTT's 65535 bytes" in proc.stderr and len(proc.stderr) < 600


def result(index: int) -> FrameResult:
    prediction = Prediction(1, "Trouser", 0.9, (ClassScore(1, "Trouser", 0.9),))
    return FrameResult(index, time.time(), None, "BGR", None, (0, 0, 1, 1), prediction, {}, 0.0)


def test_a_publisher_whose_network_thread_dies_says_so_and_fails_the_run(broker, capfd):
    """A will topic too long for MQTT (past the URL's checks) made paho's network thread die
    in CONNECT: a traceback, nothing published, and the run exited 0 regardless."""
    target = MqttTarget(tls=False, host="127.0.0.1", port=broker.port, prefix=LONG)
    presenter = MqttPresenter(MqttOptions(target, interval=0.0))
    wait_for(lambda: presenter.publisher.stopped_by, 20, "the publisher to notice")
    for i in range(5):
        presenter.present(result(i))  # classification goes on: nothing raises, nothing waits
    with pytest.raises(EdgeCnnError, match="publishing stopped for good: paho-mqtt's network "
                                           r"thread died \(error: 'H' format requires"):  # fmt: skip
        presenter.close()
    stderr = capfd.readouterr().err
    assert "Traceback" not in stderr
    assert len(re.findall(r"warning: mqtt .*network thread died", stderr)) == 1, stderr[-2000:]
    assert "5 results: 0 published" in stderr
