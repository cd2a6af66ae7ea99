"""core.tracking.FaceTracker on hand-written boxes: ids by predicted position and time."""

from __future__ import annotations

import pytest

from core.tracking import FaceTracker


def test_new_faces_get_ids_left_to_right_and_keep_them_while_moving() -> None:
    tracker = FaceTracker()
    assert tracker.update(0.0, [(200, 0, 40, 40), (10, 0, 40, 40)]) == [2, 1]  # ids start at 1, as drawn
    assert tracker.update(0.1, [(20, 0, 40, 40), (190, 0, 40, 40)]) == [1, 2]
    assert tracker.update(0.2, [(30, 0, 40, 40)]) == [1]
    assert tracker.update(0.3, []) == []


def test_crossing_faces_follow_their_motion() -> None:
    tracker = FaceTracker()
    ids = []
    for step in range(20):
        a, b = (10 + 10 * step, 0, 40, 40), (200 - 10 * step, 0, 40, 40)
        ids.append(dict(zip(tracker.update(step * 0.1, [a, b]), ("a", "b"))))
    assert all(frame == {1: "a", 2: "b"} for frame in ids)


def test_a_lost_track_waits_max_gap_s_where_it_was_last_seen() -> None:
    tracker = FaceTracker(max_gap_s=2.0)
    assert tracker.update(0.0, [(100, 100, 50, 50)]) == [1]
    assert tracker.update(1.9, [(130, 110, 50, 50)]) == [1]  # back, 0.6 face sizes away
    assert tracker.update(4.0, [(130, 110, 50, 50)]) == [2]  # gone longer than 2 s: someone new
    assert tracker.update(4.1, [(400, 110, 50, 50)]) == [3]  # too far from track 2 to be it


def test_a_face_of_a_very_different_size_is_someone_else() -> None:
    tracker = FaceTracker()
    tracker.update(0.0, [(100, 100, 40, 40)])
    assert tracker.update(0.1, [(90, 90, 100, 100)]) == [2]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_gap_s", -1.0, "max_gap_s must be >= 0 seconds"),
        ("max_distance", 0.0, "max_distance must be > 0"),
        ("max_size_ratio", 0.5, "max_size_ratio must be >= 1"),
    ],
)
def test_bad_options_are_named(option: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaceTracker(**{option: value})
