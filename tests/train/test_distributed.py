"""Distributed training: two real workers on 127.0.0.1, two logical CPUs, and the cluster options.

Every strategy trains through the same step (edgecnn.train.step.TrainingStep): each run here
is the small reference run's config and seed, so its accuracy must land next to it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
from small_runs import (
    ENV,
    SMALL_RUN,
    SMALL_RUN_EPOCHS,
    SMALL_RUN_STEPS,
    SMALL_RUN_TRAIN_IMAGES,
    assert_one_line_error,
    report_of,
    train_command,
)

from edgecnn.errors import EdgeCnnError
from edgecnn.train.strategy import resolve_worker, tf_config_for, worker_from_tf_config


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost_train_one_model(tmp_path, small_run):
    """Worker 0 gets the cluster from --workers, worker 1 from TF_CONFIG: the two ways in."""
    workers = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
    outs = [tmp_path / "chief", tmp_path / "worker1"]
    args = [*SMALL_RUN, "--strategy", "multiworker"]
    tf_config = json.dumps(
        {"cluster": {"worker": workers.split(",")}, "task": {"type": "worker", "index": 1}}
    )
    procs = [
        subprocess.Popen(
            train_command("train", *args, "--workers", workers, "--worker-index", "0",
                          "--out", str(outs[0])),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        ),
        subprocess.Popen(
            train_command("train", *args, "--out", str(outs[1])),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**ENV, "TF_CONFIG": tf_config},
        ),
    ]  # fmt: skip
    try:
        logs = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(s[-2500:] for s in logs)

    report = report_of(outs[0])
    assert report["strategy"] == "multiworker" and report["replicas"] == 2
    # Both took part: every step of every epoch ran on both, each on its half of the batch.
    steps = SMALL_RUN_EPOCHS * SMALL_RUN_STEPS
    assert [(w["worker"], w["steps"]) for w in report["workers"]] == [(0, steps), (1, steps)]
    assert sum(w["images"] for w in report["workers"]) == SMALL_RUN_EPOCHS * SMALL_RUN_TRAIN_IMAGES
    assert all(w["images"] > 0 for w in report["workers"])
    for log in logs:
        assert f"worker 1 of 2 took {steps} steps" in log
        assert f"worker 2 of 2 took {steps} steps" in log
    assert "worker 2 of 2 (chief)" not in logs[1] and "worker 1 of 2 (chief)" in logs[0]
    # Only the chief writes.
    assert not outs[1].exists()
    assert {"model.keras", "train_report.json", "config.toml"} <= {
        p.name for p in outs[0].iterdir()
    }
    assert abs(report["test_accuracy"] - small_run["test_accuracy"]) <= 0.01


def test_mirrored_strategy_on_two_logical_cpus_takes_the_same_step(tmp_path, small_run):
    # Logical devices must be configured before TensorFlow initialises: a fresh process.
    prelude = (
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration("
        "cpu, [tf.config.LogicalDeviceConfiguration()] * 2)"
    )
    out = tmp_path / "mirrored"
    proc = subprocess.run(
        train_command("train", *SMALL_RUN, "--strategy", "mirrored", "--out", str(out),
                      prelude=prelude),
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = report_of(out)
    assert report["strategy"] == "mirrored" and report["replicas"] == 2
    assert report["workers"] == [
        {
            "worker": 0,
            "steps": SMALL_RUN_EPOCHS * SMALL_RUN_STEPS,
            "images": SMALL_RUN_EPOCHS * SMALL_RUN_TRAIN_IMAGES,
        }
    ]
    # The replicas' gradients were combined into the one-device update: the same curve.
    assert abs(report["test_accuracy"] - small_run["test_accuracy"]) <= 0.01
    for ours, single in zip(report["history"]["loss"], small_run["history"]["loss"], strict=True):
        assert abs(ours - single) <= 0.05 * single
    assert (out / "model.keras").is_file()


# ------------------------------------------------------------------ the cluster options


def test_workers_option_builds_tf_config():
    config = json.loads(tf_config_for("10.0.0.1:2222, 10.0.0.2:2222", 1))
    assert config == {
        "cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},
        "task": {"type": "worker", "index": 1},
    }


@pytest.mark.parametrize(
    ("tf_config", "index", "count", "chief"),
    [
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, 0, 2, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, 1, 2, False),
        (
            {"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}},
            1, 2, False,
        ),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, 0, 2, True),
    ],
)  # fmt: skip
def test_tf_config_names_this_worker_and_the_chief(tf_config, index, count, chief):
    worker = worker_from_tf_config(json.dumps(tf_config))
    assert (worker.index, worker.count, worker.is_chief) == (index, count, chief)


def test_workers_option_sets_tf_config_for_this_process(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    worker = resolve_worker("multiworker", "127.0.0.1:5000,127.0.0.1:5001", 1)
    assert (worker.index, worker.count, worker.is_chief) == (1, 2, False)
    assert json.loads(os.environ["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}


CLUSTER_MISTAKES = [
    (["--strategy", "multiworker"], {}, "set TF_CONFIG, or give --workers"),
    (["--strategy", "multiworker"], {"TF_CONFIG": "{nope"}, "TF_CONFIG is not"),
    (
        ["--strategy", "multiworker"],
        {"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'},
        "task worker 3 is not in its cluster",
    ),
    (["--strategy", "multiworker", "--workers", "a:1,b:2"], {}, "--workers needs --worker-index"),
    (["--strategy", "multiworker", "--workers", "a:1", "--worker-index", "1"], {}, "give 0 to 0"),
    (["--strategy", "multiworker", "--workers", "nohost", "--worker-index", "0"], {}, "not host:port"),
    (["--strategy", "multiworker", "--workers", "a:1,a:1", "--worker-index", "0"], {}, "twice"),
    (["--workers", "a:1,b:2", "--worker-index", "0"], {}, "need --strategy multiworker"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "env", "message"), CLUSTER_MISTAKES)
def test_cluster_mistakes_exit_2_with_one_line(tmp_path, args, env, message):
    environ = {k: v for k, v in ENV.items() if k != "TF_CONFIG"} | env
    proc = subprocess.run(
        train_command("train", "--preset", "tiny", *args, "--out", str(tmp_path / "o")),
        capture_output=True, text=True, env=environ, timeout=120,
    )  # fmt: skip
    assert_one_line_error(proc, message)
    assert not (tmp_path / "o").exists()


def test_resolve_worker_refuses_an_index_without_workers():
    with pytest.raises(EdgeCnnError, match="--worker-index needs --workers"):
        resolve_worker("multiworker", None, 0)
