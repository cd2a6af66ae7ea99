"""core.tracking.FaceSmoother: smoothing across frames, with the face ids of core.tracking.FaceTracker."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from core.labels import EMOTIONS
from core.tracking import FaceSmoother


class Face(NamedTuple):
    box: tuple[int, int, int, int]
    probabilities: dict[str, float]


def probs(winner: str, p: float = 0.7) -> dict[str, float]:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return {name: p if name == winner else rest for name in EMOTIONS}


def test_smoother_keeps_label_through_one_odd_frame() -> None:
    smoother = FaceSmoother(alpha=0.3)
    box = (10, 10, 50, 50)
    for i in range(5):
        (face,) = smoother.update([Face(box, probs("happy", 0.9))], time_s=i / 10)
    (face,) = smoother.update([Face((12, 11, 50, 50), probs("angry", 0.9))], time_s=0.5)
    assert face.emotion == "happy" and face.raw_probabilities["angry"] == pytest.approx(0.9)
    assert face.probabilities["angry"] > 0.2
    assert sum(face.probabilities.values()) == pytest.approx(1.0)
    for i in range(5):
        (face,) = smoother.update([Face(box, probs("angry", 0.9))], time_s=0.6 + i / 10)
    assert face.emotion == "angry"


def test_smoother_alpha_one_is_no_smoothing_and_ids_start_at_one() -> None:
    smoother = FaceSmoother(alpha=1.0)
    left, right = (0, 0, 40, 40), (200, 0, 40, 40)
    smoother.update([Face(left, probs("happy")), Face(right, probs("sad"))], time_s=0.0)
    faces = smoother.update([Face(right, probs("sad")), Face(left, probs("fear"))], time_s=0.1)
    assert [f.emotion for f in faces] == ["fear", "sad"]  # left to right
    assert [f.track_id for f in faces] == [1, 2]  # the numbers drawn on them
    assert faces[0].probabilities == faces[0].raw_probabilities


def test_smoother_gives_a_returning_face_its_id_and_average_back_within_max_gap_s() -> None:
    smoother = FaceSmoother(alpha=0.5, max_gap_s=3.0)
    (first,) = smoother.update([Face((100, 100, 40, 40), probs("happy", 0.9))], time_s=0.0)
    assert smoother.update([], time_s=1.0) == []
    (back,) = smoother.update([Face((110, 100, 40, 40), probs("sad", 0.9))], time_s=2.9)
    assert back.track_id == first.track_id == 1
    assert back.probabilities["happy"] == pytest.approx(0.5 * 0.9 + 0.5 * 0.1 / 6)  # the average went on
    (new,) = smoother.update([Face((110, 100, 40, 40), probs("sad", 0.9))], time_s=6.0)  # gone 3.1 s
    assert new.track_id == 2 and new.probabilities["sad"] == pytest.approx(0.9)
    smoother.reset()
    (again,) = smoother.update([Face((110, 100, 40, 40), probs("sad"))], time_s=6.1)
    assert again.track_id == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": 0}, "alpha must be in"),
        ({"alpha": 1.5}, "alpha must be in"),
        ({"max_gap_s": -1}, "max_gap_s must be >= 0"),
    ],
)
def test_smoother_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaceSmoother(**options)
