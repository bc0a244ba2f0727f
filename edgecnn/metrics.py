"""Accuracy figures shared by training and verify: the confusion matrix and per-class accuracy."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """Counts [true class, predicted class] (rows: true, columns: predicted)."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray, names: list[str] | tuple[str, ...]) -> dict:
    """name -> the fraction of that class's images predicted right (None when it has none)."""
    totals = matrix.sum(axis=1)
    return {
        name: float(matrix[i, i] / totals[i]) if totals[i] else None for i, name in enumerate(names)
    }
