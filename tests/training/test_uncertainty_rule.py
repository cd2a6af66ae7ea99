"""Choosing the uncertainty rule, on ten hand-written faces with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import uncertainty_and_groups
from training.uncertainty import choose_rule

# (top, second, top is right): the other five classes share what is left, below the second.
FACES = [
    (0.92, 0.03, True), (0.81, 0.09, True), (0.72, 0.17, True), (0.63, 0.24, True),
    (0.36, 0.33, False),  # margin .03, top .36
    (0.46, 0.39, False),  # margin .07, top .46
    (0.32, 0.15, False),  # margin .17, top .32
    (0.54, 0.21, True), (0.57, 0.22, True), (0.66, 0.12, True),
]  # fmt: skip


def faces() -> tuple[np.ndarray, np.ndarray]:
    probs = np.zeros((len(FACES), 7))
    labels = np.zeros(len(FACES), dtype=int)
    for i, (top, second, right) in enumerate(FACES):
        probs[i] = (1 - top - second) / 5
        probs[i, 0], probs[i, 1] = top, second
        labels[i] = 0 if right else 2
    return probs, labels


def test_a_fifth_marks_the_two_closest_wrong_faces() -> None:
    probs, labels = faces()
    # At most 2 of 10: the margin rule (< .1) or the confidence rule (< .4) each mark two wrong
    # faces (score 7 right unmarked + 2 wrong marked = 9); a tie goes to the lower thresholds.
    rule, stats = choose_rule(probs, labels, max_fraction=0.2, step=0.1)
    assert (rule.min_confidence, rule.min_margin, rule.source) == (0.0, 0.1, "PublicTest")
    assert stats["marked"] == 2 and stats["score"] == 9
    assert stats["accuracy_unmarked"] == pytest.approx(7 / 8)
    assert stats["accuracy_marked"] == 0.0


def test_three_tenths_mark_every_wrong_face() -> None:
    probs, labels = faces()
    # Margin < .2 catches all three wrong faces (margins .03, .07, .17; the next is .33), and so
    # does top < .5 (.36, .46, .32; the next is .54): the tie goes to confidence 0.
    rule, stats = choose_rule(probs, labels, max_fraction=0.3, step=0.1)
    assert (rule.min_confidence, rule.min_margin) == (0.0, 0.2)
    assert stats["marked"] == 3 and stats["score"] == 10 and stats["accuracy_unmarked"] == 1.0


def test_the_confidence_half_wins_when_the_margin_cannot_separate() -> None:
    # A right face with close top two (.50/.45) and a wrong one with a weak but clear top (.35/.13):
    # only top < .4 marks the wrong face alone (score 3 + 1 = 4); margin < .1 would mark the right one.
    probs = np.zeros((4, 7))
    for i, (top, second) in enumerate([(0.50, 0.45), (0.35, 0.13), (0.90, 0.05), (0.80, 0.10)]):
        probs[i] = (1 - top - second) / 5
        probs[i, 0], probs[i, 1] = top, second
    rule, stats = choose_rule(probs, np.array([0, 3, 0, 0]), max_fraction=0.25, step=0.1)
    assert (rule.min_confidence, rule.min_margin) == (0.4, 0.0)
    assert stats["score"] == 4 and stats["marked"] == 1 and stats["accuracy_unmarked"] == 1.0


def test_nothing_may_be_marked() -> None:
    probs, labels = faces()
    rule, stats = choose_rule(probs, labels, max_fraction=0.0, step=0.1)
    assert (rule.min_confidence, rule.min_margin, stats["marked"]) == (0.0, 0.0, 0)


def test_bad_inputs_are_named() -> None:
    probs, labels = faces()
    with pytest.raises(ValueError, match=r"expected \(N, 7\) probabilities and N labels"):
        choose_rule(probs[:, :6], labels)
    with pytest.raises(ValueError, match="max_fraction must be between 0 and 1, got 1.5"):
        choose_rule(probs, labels, max_fraction=1.5)


def test_evaluation_reports_the_models_rule_and_the_grouped_accuracy() -> None:
    probs, labels = faces()
    # Faces 0-3 and 7-9 are angry (negative) and right; 4-6 are said angry but are fear (negative too).
    labels_true = labels.copy()
    metadata = {"uncertainty": {"min_confidence": 0.0, "min_margin": 0.2, "split": "PublicTest"}}
    report = uncertainty_and_groups(metadata, labels_true, probs)
    assert report["uncertainty"]["marked"] == 3 and report["uncertainty"]["accuracy_unmarked"] == 1.0
    assert report["grouped"]["accuracy"] == 1.0  # angry and fear are both negative
    labels_true[0] = 3  # a happy face said angry: wrong in groups too
    assert uncertainty_and_groups({}, labels_true, probs)["grouped"]["accuracy"] == 0.9
    assert uncertainty_and_groups({}, labels_true, probs)["uncertainty"]["split"] == "default"
