"""Metrics against answers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import calibration, classification_report, ferplus_accuracy, ferplus_majority


def one_hot_probs(pred: list[int], conf: float = 0.9) -> np.ndarray:
    probs = np.full((len(pred), 7), (1 - conf) / 6)
    probs[np.arange(len(pred)), pred] = conf
    return probs


def test_report_matches_hand_computed_values() -> None:
    y_true = [0, 0, 0, 3, 3, 6]
    y_pred = [0, 0, 3, 3, 6, 6]
    report = classification_report(np.array(y_true), one_hot_probs(y_pred))
    assert report["accuracy"] == pytest.approx(4 / 6)
    angry, happy, neutral = report["per_class"]["angry"], report["per_class"]["happy"], report["per_class"]["neutral"]
    assert angry == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert happy["precision"] == pytest.approx(0.5) and happy["recall"] == pytest.approx(0.5)
    assert neutral["precision"] == pytest.approx(0.5) and neutral["recall"] == 1.0
    # Macro-F1 over all 7 labels: absent classes count as 0.
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 7)
    assert report["absent_classes"] == ["disgust", "fear", "sad", "surprise"]
    cm = np.array(report["confusion_matrix"])
    assert cm[0].tolist() == [2, 0, 0, 1, 0, 0, 0]
    assert cm.sum() == 6
    assert report["confusion_matrix_normalised"][0][0] == pytest.approx(2 / 3)
    assert report["confusion_matrix_normalised"][1] == [0.0] * 7


def test_ece_by_hand() -> None:
    # Two bins: (0, .5] holds conf .4 (wrong) and .5 (right); (.5, 1] holds .9 (right) and .7 (wrong).
    result = calibration(np.array([0.4, 0.5, 0.9, 0.7]), np.array([False, True, True, False]), n_bins=2)
    low, high = result["bins"]
    assert low["count"] == 2 and low["accuracy"] == 0.5 and low["confidence"] == pytest.approx(0.45)
    assert high["count"] == 2 and high["accuracy"] == 0.5 and high["confidence"] == pytest.approx(0.8)
    assert result["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.3)


def test_perfectly_calibrated_has_zero_ece_and_empty_bins_are_none() -> None:
    result = calibration(np.array([1.0, 1.0]), np.array([True, True]), n_bins=10)
    assert result["ece"] == pytest.approx(0.0)
    assert result["bins"][0]["accuracy"] is None and result["bins"][-1]["count"] == 2


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [(np.array([0]), np.ones((1, 5)), "shape"), (np.array([], dtype=int), np.ones((0, 7)), "no examples")],
)
def test_report_rejects_bad_input(y: np.ndarray, p: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_report(y, p)


def test_ferplus_majority_leaves_out_ties_and_faces_without_votes() -> None:
    votes = np.array(
        [
            [0, 0, 0, 8, 0, 0, 2],  # happy
            [0, 0, 0, 4, 0, 0, 4],  # tie: left out
            [0, 0, 0, 0, 0, 0, 0],  # no vote among the 7 (all "contempt"/"unknown"/NF): left out
            [1, 0, 0, 0, 3, 0, 2],  # sad
        ],
        dtype=float,
    )
    labels, valid = ferplus_majority(votes)
    assert valid.tolist() == [True, False, False, True]
    assert labels[valid].tolist() == [3, 4]
    assert np.array_equal(ferplus_majority(votes / np.maximum(votes.sum(1, keepdims=True), 1))[1], valid)
    probs = np.eye(7)[[3, 6, 0, 0]]  # right, (left out), (left out), wrong
    report = ferplus_accuracy(np.array([3, 6, 2, 4]), probs, votes)
    assert report == {"accuracy": 0.5, "n": 2, "left_out": 2, "agreement_with_fer2013": 1.0}
    with pytest.raises(ValueError, match=r"shape \(N, 7\)"):
        ferplus_majority(np.zeros((2, 8)))
