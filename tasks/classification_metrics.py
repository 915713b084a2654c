"""Classification metrics, a majority-class baseline, and confusion-matrix outputs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from tasks.io import atomic_path


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict[str, Any]:
    """Label ids index `label_names`; every class is reported, even one absent from this split."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    labels = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": cm.tolist(),  # rows: actual, columns: predicted
        "labels": list(label_names),
    }


def majority_baseline(y_train: Sequence[int], y_true: Sequence[int]) -> dict[str, Any]:
    """Accuracy of always answering the most frequent training class: the floor a model must beat."""
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(y_train) == 0:
        raise ValueError("majority baseline needs training labels")
    # Ties go to the smallest label id, so the baseline does not depend on row order.
    counts = Counter(int(y) for y in y_train)
    majority = min(counts, key=lambda label: (-counts[label], label))
    accuracy = float((y_true == majority).mean()) if len(y_true) else 0.0
    classes = sorted(set(counts) | set(int(y) for y in y_true))
    macro_f1 = (
        float(f1_score(y_true, np.full_like(y_true, majority), labels=classes, average="macro", zero_division=0))
        if len(y_true)
        else 0.0
    )
    return {"label_id": majority, "accuracy": accuracy, "macro_f1": macro_f1}


def confusion_rows(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> list[dict[str, str]]:
    """One {actual, predicted} row per example: the shape DVC's confusion plot template reads."""
    return [{"actual": label_names[int(t)], "predicted": label_names[int(p)]} for t, p in zip(y_true, y_pred)]


def plot_confusion_png(
    cm: Sequence[Sequence[int]], label_names: Sequence[str], path: str | Path, column_names: Sequence[str] | None = None
) -> Path:
    """Rows are `label_names` (actual), columns `column_names` (predicted; default: the same names)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    counts = np.asarray(cm, dtype=np.int64)
    # Colour by row share so a rare class's errors are as visible as a common one's.
    row_sums = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, row_sums, out=np.zeros(counts.shape, dtype=float), where=row_sums > 0)
    columns = list(label_names if column_names is None else column_names)
    size = max(4.0, 0.6 * max(len(label_names), len(columns)) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of actual class")
        ax.set_xticks(np.arange(len(columns)), labels=columns, rotation=45, ha="right")
        ax.set_yticks(np.arange(len(label_names)), labels=label_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                ax.text(
                    j, i, str(counts[i, j]), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black"
                )
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path, ".png") as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        plt.close(fig)
    return path
