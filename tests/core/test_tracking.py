"""core.tracking: box overlap, face tracks that keep their ids, smoothing across frames."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from core.labels import EMOTIONS
from core.tracking import FaceSmoother, box_iou


class Face(NamedTuple):
    box: tuple[int, int, int, int]
    probabilities: dict[str, float]


def probs(winner: str, p: float = 0.7) -> dict[str, float]:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return {name: p if name == winner else rest for name in EMOTIONS}


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_smoother_keeps_label_through_one_odd_frame() -> None:
    smoother = FaceSmoother(alpha=0.3)
    box = (10, 10, 50, 50)
    for _ in range(5):
        (face,) = smoother.update([Face(box, probs("happy", 0.9))])
    (face,) = smoother.update([Face((12, 11, 50, 50), probs("angry", 0.9))])
    assert face.emotion == "happy"
    assert face.probabilities["angry"] > 0.2
    assert sum(face.probabilities.values()) == pytest.approx(1.0)
    for _ in range(5):
        (face,) = smoother.update([Face(box, probs("angry", 0.9))])
    assert face.emotion == "angry"


def test_smoother_alpha_one_is_no_smoothing_and_tracks_are_separate() -> None:
    smoother = FaceSmoother(alpha=1.0)
    left, right = (0, 0, 40, 40), (200, 0, 40, 40)
    smoother.update([Face(left, probs("happy")), Face(right, probs("sad"))])
    faces = smoother.update([Face(right, probs("sad")), Face(left, probs("fear"))])
    assert [f.emotion for f in faces] == ["fear", "sad"]  # left to right
    assert len({f.track_id for f in faces}) == 2


def test_smoother_forgets_lost_faces() -> None:
    smoother = FaceSmoother(alpha=0.5, max_missed=1)
    (first,) = smoother.update([Face((0, 0, 40, 40), probs("happy"))])
    smoother.update([])
    smoother.update([])
    (again,) = smoother.update([Face((0, 0, 40, 40), probs("sad"))])
    assert again.track_id != first.track_id and again.emotion == "sad"


@pytest.mark.parametrize(
    ("options", "message"),
    [({"alpha": 0}, "alpha must be in"), ({"iou_threshold": 1.5}, "iou_threshold"), ({"max_missed": -1}, "max_missed")],
)
def test_smoother_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaceSmoother(**options)
