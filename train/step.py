"""One training step and one evaluation step, the same under every tf.distribute strategy.

The default strategy, MirroredStrategy and MultiWorkerMirroredStrategy all go through
`TrainingStep`: `strategy.run` runs the replica function on each replica's slice of the global
batch (from `experimental_distribute_dataset`), and `strategy.reduce` sums the results.

Loss scaling: each replica returns the sum of its examples' losses divided by the number of
examples in the whole global batch (all-reduced, so a short last batch weighs what it holds).
Keras 3's TensorFlow optimizer sums the replicas' gradients (an all-reduce) before it applies
them, so the update is the gradient of the global batch's mean loss, as on one device.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class TrainingStep:
    """`train(batch)` and `evaluate(batch)` on a distributed batch, returning numbers on the host.

    Both return (global, local): `global` is [loss sum, right predictions, examples] over all
    replicas of all workers; `local` is the number of examples this worker's replicas took.
    """

    def __init__(self, strategy, model, optimizer, loss) -> None:
        self.strategy, self.model, self.optimizer, self.loss = strategy, model, optimizer, loss
        self.replicas = int(strategy.num_replicas_in_sync)
        self.train_function = tf.function(self.distributed(self.replica_train))
        self.evaluate_function = tf.function(self.distributed(self.replica_evaluate))

    def distributed(self, replica_fn):
        def run(images, labels):
            per_replica = self.strategy.run(replica_fn, args=(images, labels))
            total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            return total, per_replica

        return run

    def global_count(self, labels):
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        if self.replicas == 1:
            return count
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)

    def totals(self, labels, scores, losses):
        right = tf.equal(tf.argmax(scores, axis=-1), tf.argmax(labels, axis=-1))
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        return tf.stack([tf.reduce_sum(losses), tf.reduce_sum(tf.cast(right, tf.float32)), count])

    def replica_train(self, images, labels):
        model = self.model
        with tf.GradientTape() as tape:
            scores = model(images, training=True)
            losses = self.loss(labels, scores)
            loss = tf.reduce_sum(losses) / tf.maximum(self.global_count(labels), 1.0)
            if model.losses:  # layer regularisers: added once, shared among the replicas
                loss += tf.add_n(model.losses) / self.replicas
        gradients = tape.gradient(loss, model.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return self.totals(labels, scores, losses)

    def replica_evaluate(self, images, labels):
        scores = self.model(images, training=False)
        return self.totals(labels, scores, self.loss(labels, scores))

    def host(self, result) -> tuple[np.ndarray, float]:
        total, per_replica = result
        local = self.strategy.experimental_local_results(per_replica)
        return total.numpy().astype(np.float64), float(sum(r.numpy()[2] for r in local))

    def train(self, batch) -> tuple[np.ndarray, float]:
        return self.host(self.train_function(*batch))

    def evaluate(self, batch) -> tuple[np.ndarray, float]:
        return self.host(self.evaluate_function(*batch))

    def worker_table(self, rows: int, row: int, values: list[float]) -> np.ndarray:
        """Every worker's `values`, gathered: row i holds worker i's (a sum over the cluster)."""
        table = np.zeros((rows, len(values)), np.float32)
        if rows == 1:
            table[row] = values
            return np.round(table).astype(np.int64)
        table[row] = np.asarray(values, np.float32) / len(self.strategy.extended.worker_devices)

        @tf.function
        def gather():
            per_replica = self.strategy.run(lambda: tf.constant(table))
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return np.round(gather().numpy()).astype(np.int64)
