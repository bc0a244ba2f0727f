"""training_curves.png: loss and accuracy per epoch, training vs validation."""

from __future__ import annotations

from pathlib import Path


def plot_training_curves(
    history: dict[str, list[float]], path: str | Path, title: str = ""
) -> None:
    """Two panels (loss, accuracy), train and validation lines, the best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgecnn.atomic import atomic_path

    epochs = range(1, len(history.get("loss", [])) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, metric, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, history.get(metric, []), "o-", label="train")
        ax.plot(epochs, history.get(f"val_{metric}", []), "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    val_acc = history.get("val_accuracy", [])
    if val_acc:
        best = max(range(len(val_acc)), key=val_acc.__getitem__)
        axes[1].axvline(best + 1, color="grey", linestyle=":", label="best epoch")
        axes[1].set_title(f"best validation accuracy {val_acc[best]:.4f} (epoch {best + 1})")
    axes[0].set_title(title or "loss")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
