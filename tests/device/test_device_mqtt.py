"""`edgecnn run --mqtt` against a real broker (Debian's mosquitto, started here on 127.0.0.1)."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from itertools import pairwise

import pytest
from device_ip_camera import FakeIpCamera
from live_run import LiveRun
from mosquitto_broker import Mosquitto, Subscriber, wait_for

from edgecnn.demo.synthvideo import bench_frames
from edgecnn.device.outputs.mqtt import STABLE_LABEL_TEMPLATE, mqtt_options, parse_mqtt_url
from edgecnn.errors import EdgeCnnError

PREFIX = "edgecnn/test-cam"
STATE, AVAILABILITY = f"{PREFIX}/state", f"{PREFIX}/availability"
CONFIG_LABEL = "homeassistant/sensor/edgecnn_test-cam/label/config"
CONFIG_SCORE = "homeassistant/sensor/edgecnn_test-cam/score/config"
CONFIG_MODEL = "homeassistant/sensor/edgecnn_test-cam/model/config"
INTERVAL = 0.3
SUMMARY = (
    r"mqtt: (?P<results>\d+) results?: (?P<published>\d+) published, (?P<dropped>\d+) dropped "
    r"while the broker was away, (?P<unsent>\d+) unsent at exit; (?P<outages>\d+) outage"
)


def summary(run: LiveRun) -> dict[str, int]:
    return {k: int(v) for k, v in run.stderr_match(SUMMARY, timeout=5).groupdict().items()}


def warnings(run: LiveRun) -> list[str]:
    return [line for line in run.stderr if line.startswith("edgecnn: warning: mqtt")]


@pytest.fixture()
def camera():
    """A live camera whose label stays put for a while, then changes: each of 6 items for
    10 frames at 25 FPS."""
    frames = [f for f in bench_frames(6)[0] for _ in range(10)]
    camera = FakeIpCamera(frames, fps=25)
    yield camera
    camera.close()


@pytest.fixture()
def broker(tmp_path):
    broker = Mosquitto(tmp_path)
    yield broker
    broker.stop()


def test_subscriber_gets_every_change_heartbeats_and_availability(int8_model, camera, broker):
    subscriber = Subscriber(broker, [f"{PREFIX}/#"])
    run = LiveRun("--model", str(int8_model), "--source", camera.url, "--json",
                  "--mqtt", broker.url(PREFIX), "--mqtt-interval", str(INTERVAL))  # fmt: skip
    try:
        run.stderr_match(r"mqtt: publishing to mqtt://127\.0\.0\.1:\d+/edgecnn/test-cam/state")
        wait_for(lambda: len(subscriber.on(STATE)) >= 25, 60, "25 results on the subscriber")
        assert run.stop() == 0, "".join(run.stderr)
        wait_for(lambda: subscriber.on(AVAILABILITY)[-1].payload == b"offline", 10, "offline")
    finally:
        run.close()
        subscriber.close()
    records = {r["frame"]: r for r in run.records()}
    states = [m.json() for m in subscriber.on(STATE)]
    counts = summary(run)
    assert counts["published"] == counts["results"] == len(states)
    assert counts["dropped"] == counts["unsent"] == counts["outages"] == 0
    assert not warnings(run)
    for state in states:  # each message is that frame's result, as --json printed it
        assert set(state) == {"frame", "time", "label", "class_id", "score", "top", "stable",
                              "model", "fps"}  # fmt: skip
        assert {k: v for k, v in records[state["frame"]].items() if k != "latency_ms"} == state
    changes = {f for f, r in records.items() if r["stable"] and r["stable"]["changed"]}
    assert len(changes) >= 2, "the camera's items should change the stable state"
    assert changes <= {s["frame"] for s in states}  # every change is published
    repeats = [
        now["time"] - before["time"]
        for before, now in pairwise(states)
        if not now["stable"] or not now["stable"]["changed"]
    ]
    assert repeats, "the state stayed long enough for a repeat"
    assert min(repeats) >= INTERVAL - 0.05  # at most every --mqtt-interval
    availability = [m.payload for m in subscriber.on(AVAILABILITY)]
    assert availability[0] == b"online" and availability[-1] == b"offline"


def test_home_assistant_discovery_config(int8_model, camera, broker):
    subscriber = Subscriber(broker, ["homeassistant/#", f"{PREFIX}/#"])
    run = LiveRun("--model", str(int8_model), "--source", camera.url, "--max-frames", "15",
                  "--mqtt", broker.url(PREFIX), "--mqtt-discovery")  # fmt: skip
    try:
        assert run.wait() == 0, "".join(run.stderr)
    finally:
        run.close()
    # A subscriber that comes later (Home Assistant restarting) still finds the configs.
    late = Subscriber(broker, ["homeassistant/#"])
    try:
        wait_for(lambda: len(late.on(CONFIG_LABEL)) == 1, 10, "the retained label config")
        configs = {m.topic: m for m in late.messages}
    finally:
        late.close()
        subscriber.close()
    assert set(configs) == {CONFIG_LABEL, CONFIG_SCORE, CONFIG_MODEL}
    assert all(m.retain for m in configs.values())
    label, score = configs[CONFIG_LABEL].json(), configs[CONFIG_SCORE].json()
    for config in (label, score):
        assert config["state_topic"] == STATE
        assert config["availability_topic"] == AVAILABILITY
        assert config["payload_available"] == "online"
        assert config["payload_not_available"] == "offline"
        assert config["device"]["identifiers"] == ["edgecnn_edgecnn_test-cam"]
    assert label["unique_id"] != score["unique_id"]
    assert label["value_template"] == STABLE_LABEL_TEMPLATE  # the stable state
    assert score["unit_of_measurement"] == "%"
    # The config came before the results, in the first subscriber's order.
    topics = [m.topic for m in subscriber.messages]
    assert topics.index(CONFIG_LABEL) < topics.index(STATE)


def test_last_will_says_offline_when_the_run_is_killed(int8_model, camera, broker):
    subscriber = Subscriber(broker, [AVAILABILITY])
    run = LiveRun("--model", str(int8_model), "--source", camera.url,
                  "--mqtt", broker.url(PREFIX))  # fmt: skip
    try:
        wait_for(lambda: [m.payload for m in subscriber.on(AVAILABILITY)] == [b"online"], 60,
                 "online")  # fmt: skip
        run.stop(signal.SIGKILL)
        wait_for(lambda: len(subscriber.on(AVAILABILITY)) == 2, 10, "the last will")
    finally:
        run.close()
        subscriber.close()
    assert subscriber.on(AVAILABILITY)[1].payload == b"offline"
    late = Subscriber(broker, [AVAILABILITY])  # retained: what a newcomer sees
    try:
        wait_for(lambda: late.on(AVAILABILITY), 10, "the retained availability")
        assert late.on(AVAILABILITY)[0].payload == b"offline"
    finally:
        late.close()


def test_broker_restart_mid_run_classification_goes_on_and_counts_add_up(int8_model, tmp_path):
    """The broker stops for a few seconds and comes back: every frame is still classified,
    publishing resumes, one warning is printed, and every result is accounted for:
    published (the subscriber has each of them), dropped from the full queue, or unsent."""
    broker = Mosquitto(tmp_path, persistence=True)
    fast_camera = FakeIpCamera(bench_frames(6)[0], fps=100)  # a new label on most frames
    subscriber = Subscriber(broker, [STATE], client_id="restart-test-subscriber")
    run = LiveRun("--model", str(int8_model), "--source", fast_camera.url, "--json",
                  "--stable", "1", "--mqtt", broker.url(PREFIX))  # fmt: skip
    try:
        wait_for(lambda: len(subscriber.on(STATE)) >= 20, 60, "results before the outage")
        broker.stop()
        down = time.time()
        run.stderr_match(r"warning: mqtt .*lost the connection", timeout=10)
        time.sleep(3)
        up = time.time()
        broker.start()
        run.stderr_match(r"mqtt: connected to .* again after", timeout=30)
        after_restart = len(subscriber.on(STATE))
        wait_for(lambda: len(subscriber.on(STATE)) >= after_restart + 20, 30,
                 "results after the restart")  # fmt: skip
        assert run.stop() == 0, "".join(run.stderr)
    finally:
        run.close()
        fast_camera.close()
    counts = summary(run)
    try:
        wait_for(lambda: len({m.json()["frame"] for m in subscriber.on(STATE)})
                 >= counts["published"], 15, "every published result")  # fmt: skip
    finally:
        subscriber.close()
        broker.stop()
    records = run.records()
    print(f"broker down {up - down:.1f} s; {len(records)} frames; {counts}")
    assert [r["frame"] for r in records] == list(range(len(records)))  # none skipped
    during = [r for r in records if down + 0.5 < r["time"] < up]
    assert len(during) >= 50, "frames are classified while the broker is down"
    assert len(warnings(run)) == 1 and counts["outages"] == 1
    assert counts["results"] == counts["published"] + counts["dropped"] + counts["unsent"]
    assert counts["dropped"] > 0 and counts["unsent"] == 0
    received = {m.json()["frame"] for m in subscriber.on(STATE)}
    assert len(received) == counts["published"]
    assert max(received) > max(r["frame"] for r in during)  # publishing resumed


@pytest.mark.parametrize("how", ["password file", "wrong password", "no user"])
def test_broker_with_a_password_file(int8_model, camera, tmp_path, how):
    broker = Mosquitto(tmp_path, users={"camera": "right-password", "reader": "reader-pass"})
    subscriber = Subscriber(broker, [STATE], user=("reader", "reader-pass"))
    secret = tmp_path / "mqtt-password"
    secret.write_text("right-password\n")
    secret.chmod(0o600)
    args = ["--model", str(int8_model), "--source", camera.url, "--max-frames", "40", "--json"]
    if how == "password file":
        run = LiveRun(*args, "--mqtt", broker.url(PREFIX, "camera"),
                      "--mqtt-password-file", str(secret))  # fmt: skip
    elif how == "wrong password":
        run = LiveRun(*args, "--mqtt", broker.url(PREFIX, "camera"),
                      env={"EDGECNN_MQTT_PASSWORD": "wrong-password"})  # fmt: skip
    else:
        run = LiveRun(*args, "--mqtt", broker.url(PREFIX))
    try:
        assert run.wait() == 0, "".join(run.stderr)
    finally:
        run.close()
        subscriber.close()
        broker.stop()
    assert len(run.records()) == 40  # classification never waits for the broker
    counts = summary(run)
    if how == "password file":
        assert counts["published"] == counts["results"] > 0 and not warnings(run)
        assert len(subscriber.on(STATE)) == counts["published"]
    else:
        assert counts["published"] == 0 and not subscriber.on(STATE)
        (line,) = warnings(run)
        assert "refused the connection (Not authorized)" in line
        assert "EDGECNN_MQTT_PASSWORD" in line


def _tls_files(folder):
    """A CA and a certificate for 127.0.0.1 signed by it (openssl, as an admin would)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *new_key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=test CA")  # fmt: skip
    openssl("req", *new_key, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


def test_mqtts_with_the_brokers_ca(int8_model, camera, tmp_path):
    ca, cert, key = _tls_files(tmp_path)
    broker = Mosquitto(tmp_path, tls=(ca, cert, key))
    subscriber = Subscriber(broker, [STATE])  # on the plain listener of the same broker
    url = f"mqtts://127.0.0.1:{broker.tls_port}/{PREFIX}"
    args = ["--model", str(int8_model), "--source", camera.url, "--max-frames", "30"]
    trusted = LiveRun(*args, "--mqtt", url, "--mqtt-ca-file", str(ca))
    untrusted = LiveRun(*args, "--mqtt", url)  # the system's CAs do not know this one
    try:
        assert trusted.wait() == 0, "".join(trusted.stderr)
        assert untrusted.wait() == 0, "".join(untrusted.stderr)
    finally:
        trusted.close()
        untrusted.close()
        subscriber.close()
        broker.stop()
    counts = summary(trusted)
    assert counts["published"] == counts["results"] > 0
    assert len(subscriber.on(STATE)) == counts["published"]
    (line,) = warnings(untrusted)
    assert "certificate verify failed" in line and summary(untrusted)["published"] == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/edgecnn", "the scheme must be mqtt or mqtts"),
        ("mqtt://127.0.0.1", "no topic prefix"),
        ("mqtt://127.0.0.1:99999/a", "the port must be a number"),
        ("mqtt://127.0.0.1/a/#", "wildcard"),
        ("mqtt://127.0.0.1/a//b", "empty level"),
        ("mqtt:///a", "no host"),
        ("mqtt://user:secret@127.0.0.1/a", "keep the password out of the URL"),
    ],
)
def test_bad_mqtt_url_is_refused_with_what_to_do(url, message):
    with pytest.raises(EdgeCnnError, match=re.escape(message)):
        parse_mqtt_url(url)


def test_mqtt_url_forms():
    target = parse_mqtt_url("mqtts://cam%40home@broker.lan/edgecnn/kitchen/")
    assert (target.tls, target.host, target.port) == (True, "broker.lan", 8883)
    assert (target.username, target.prefix) == ("cam@home", "edgecnn/kitchen")
    assert target.state_topic == "edgecnn/kitchen/state"
    assert parse_mqtt_url("mqtt://[::1]:1884/x").port == 1884


def test_password_without_a_user_is_refused(monkeypatch):
    monkeypatch.setenv("EDGECNN_MQTT_PASSWORD", "secret")
    with pytest.raises(EdgeCnnError, match="no user"):
        mqtt_options("mqtt://127.0.0.1/a")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mqtt", "mqtt://127.0.0.1"], "no topic prefix"),
        (["--mqtt", "mqtt://u@127.0.0.1/a", "--mqtt-password-file", "/nonexistent/pw"],
         "--mqtt-password-file /nonexistent/pw: cannot read it"),
    ],
)  # fmt: skip
def test_bad_mqtt_options_are_one_line_and_exit_2(int8_model, extra, message):
    proc = subprocess.run(
        [*LiveRun.command(), "--model", str(int8_model), "--source", "0", *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("edgecnn: error: ") and proc.stderr.count("\n") == 1
    assert message in proc.stderr, proc.stderr
