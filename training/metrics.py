"""Classification metrics for emotion models: scikit-learn for the standard ones, ECE by hand."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.labels import EMOTIONS, NUM_CLASSES


def calibration(confidences: np.ndarray, correct: np.ndarray, *, n_bins: int = 15) -> dict[str, Any]:
    """Expected calibration error and the reliability-diagram bins of top-1 confidences.

    Bins are equal-width on (0, 1]; ECE is the support-weighted mean |accuracy - confidence|.

    Returns:
        ``{"ece": float, "bins": [{"lower", "upper", "count", "accuracy", "confidence"}, ...]}``;
        empty bins have ``accuracy`` and ``confidence`` of ``None``.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidences.shape != correct.shape or confidences.ndim != 1:
        raise ValueError("confidences and correct must be 1-D arrays of the same length")
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 falls in the first bin.
    which = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, n_bins - 1)
    bins, ece, total = [], 0.0, max(1, len(confidences))
    for i in range(n_bins):
        mask = which == i
        count = int(mask.sum())
        acc = float(correct[mask].mean()) if count else None
        conf = float(confidences[mask].mean()) if count else None
        if count:
            ece += count / total * abs(acc - conf)
        bins.append({"lower": float(edges[i]), "upper": float(edges[i + 1]), "count": count, "accuracy": acc, "confidence": conf})
    return {"ece": float(ece), "bins": bins}


def classification_report(y_true: np.ndarray, probabilities: np.ndarray, *, n_bins: int = 15) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, macro-F1, confusion matrices and calibration.

    Args:
        y_true: integer labels (N,) in :data:`core.labels.EMOTIONS` order.
        probabilities: (N, 7) predicted class probabilities.

    Returns:
        A JSON-ready dict (the body of ``evaluation.json``).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support  # noqa: PLC0415

    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape != (len(y_true), NUM_CLASSES):
        raise ValueError(f"probabilities must have shape ({len(y_true)}, {NUM_CLASSES}), not {probabilities.shape}")
    if len(y_true) == 0:
        raise ValueError("no examples to evaluate")
    labels = list(range(NUM_CLASSES))
    y_pred = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    confidences = probabilities.max(axis=1)
    return {
        "n": int(len(y_true)),
        "labels": list(EMOTIONS),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support)
        },
        "absent_classes": [name for name, s in zip(EMOTIONS, support) if s == 0],
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalised": normalised.round(6).tolist(),
        "calibration": calibration(confidences, y_pred == y_true, n_bins=n_bins),
    }


def ferplus_majority(soft_votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FER+ majority labels: the class with the most of a face's votes among the 7 FER2013 classes.

    Args:
        soft_votes: ``(N, 7)`` vote counts or vote shares per face, in :data:`core.labels.EMOTIONS` order.

    Returns:
        ``(labels, valid)``: the arg-max class (N,) and a mask of faces that have one; a face with a
        tie at the top, or with no vote for any of the 7 classes, is left out.
    """
    votes = np.asarray(soft_votes, dtype=np.float64)
    if votes.ndim != 2 or votes.shape[1] != NUM_CLASSES:
        raise ValueError(f"expected votes of shape (N, {NUM_CLASSES}), got {votes.shape}")
    top = votes.max(axis=1)
    ties = (np.isclose(votes, top[:, None]) & (top[:, None] > 0)).sum(axis=1)
    return votes.argmax(axis=1).astype(np.int64), (top > 0) & (ties == 1)


def ferplus_accuracy(y_fer: np.ndarray, probs: np.ndarray, soft_votes: np.ndarray) -> dict[str, Any]:
    """Accuracy against FER+ majority labels, and how often FER+ and FER2013 agree, on the same faces.

    Returns:
        ``{"accuracy", "n", "left_out", "agreement_with_fer2013"}``; the accuracy counts only the
        faces :func:`ferplus_majority` keeps.
    """
    labels, valid = ferplus_majority(soft_votes)
    predicted = np.asarray(probs).argmax(axis=1)
    n = int(valid.sum())
    return {
        "accuracy": float((predicted[valid] == labels[valid]).mean()) if n else None,
        "n": n,
        "left_out": int((~valid).sum()),
        "agreement_with_fer2013": float((np.asarray(y_fer)[valid] == labels[valid]).mean()) if n else None,
    }
