"""The tf.distribute strategy for `--strategy`, and the multi-worker cluster it runs on.

`default` trains on this process's device, `mirrored` replicates the model on every local GPU
(or logical CPU device), `multiworker` replicates it across processes, usually on several
machines, that find each other through `TF_CONFIG`:

    {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}

`--workers host1:12345,host2:12345 --worker-index 0` builds that for you. Worker 0 (or the
`chief` task, when the cluster has one) is the chief: it alone writes files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from edgecnn.errors import EdgeCnnError

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass(frozen=True)
class Worker:
    """This process's place in the training cluster (one worker, index 0, when not distributed)."""

    index: int = 0
    count: int = 1
    is_chief: bool = True

    @property
    def label(self) -> str:
        role = " (chief)" if self.is_chief else ""
        return f"worker {self.index + 1} of {self.count}{role}"


def parse_address(address: str) -> str:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise EdgeCnnError(f"--workers: {address!r} is not host:port (for example 10.0.0.2:12345)")
    return f"{host}:{port}"


def tf_config_for(workers: str, worker_index: int) -> str:
    """The TF_CONFIG JSON for `--workers host:port,... --worker-index N`."""
    addresses = [parse_address(a) for a in workers.split(",") if a.strip()]
    if not addresses:
        raise EdgeCnnError("--workers needs at least one host:port")
    if len(set(addresses)) != len(addresses):
        raise EdgeCnnError("--workers lists the same host:port twice: give each worker its own")
    if not 0 <= worker_index < len(addresses):
        raise EdgeCnnError(
            f"--worker-index {worker_index} is not a worker of the {len(addresses)} in --workers: "
            f"give 0 to {len(addresses) - 1} (0 is the chief)"
        )
    return json.dumps(
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": worker_index}}
    )


def worker_from_tf_config(text: str | None) -> Worker:
    """This process's Worker from TF_CONFIG's text; EdgeCnnError when it is missing or wrong."""
    if not text:
        raise EdgeCnnError(
            "--strategy multiworker needs the cluster: set TF_CONFIG, or give --workers "
            "host:port,... and --worker-index N"
        )
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = task["type"], int(task["index"])
        jobs = {name: list(cluster[name]) for name in ("chief", "worker") if name in cluster}
    except (ValueError, KeyError, TypeError, RecursionError):
        raise EdgeCnnError(
            'TF_CONFIG is not {"cluster": {"worker": ["host:port", ...]}, '
            '"task": {"type": "worker", "index": N}}'
        ) from None
    if kind not in jobs or not 0 <= index < len(jobs[kind]):
        raise EdgeCnnError(
            f"TF_CONFIG: task {kind} {index} is not in its cluster {sorted(jobs)}: "
            "use a task type and index the cluster lists"
        )
    chiefs = len(jobs.get("chief", []))
    position = index if kind == "chief" else chiefs + index
    is_chief = kind == "chief" or (chiefs == 0 and index == 0)
    return Worker(position, chiefs + len(jobs.get("worker", [])), is_chief)


def resolve_worker(strategy: str, workers: str | None, worker_index: int | None) -> Worker:
    """Check the cluster options before any data or TensorFlow loads; set TF_CONFIG if asked."""
    if strategy not in STRATEGIES:
        raise EdgeCnnError(f"unknown strategy {strategy!r}: use {', '.join(STRATEGIES)}")
    if strategy != "multiworker":
        if workers is not None or worker_index is not None:
            raise EdgeCnnError("--workers and --worker-index need --strategy multiworker")
        return Worker()
    if workers is not None:
        if worker_index is None:
            raise EdgeCnnError("--workers needs --worker-index N: this process's place in it")
        os.environ["TF_CONFIG"] = tf_config_for(workers, worker_index)
    elif worker_index is not None:
        raise EdgeCnnError("--worker-index needs --workers host:port,...")
    return worker_from_tf_config(os.environ.get("TF_CONFIG"))


def make_strategy(name: str):
    """The tf.distribute strategy for `--strategy` (create it before any other TensorFlow op).

    `mirrored` replicates the model on every local GPU, or, with no GPU, on every logical CPU
    device (one unless the process split its CPU before TensorFlow started). `multiworker`
    reads the cluster from TF_CONFIG (see `resolve_worker`).
    """
    if name not in STRATEGIES:
        raise EdgeCnnError(f"unknown strategy {name!r}: use {', '.join(STRATEGIES)}")
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MultiWorkerMirroredStrategy()
