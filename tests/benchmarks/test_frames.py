"""Test-frame construction on synthetic faces (the FER2013 CSV is not needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.frames import FIVE_FACES, build_frames, paste_faces, select_faces


def _faces(n: int) -> list[np.ndarray]:
    return [np.full((48, 48), 40 * (i + 1), np.uint8) for i in range(n)]


def test_paste_faces_puts_each_face_in_its_slot() -> None:
    frame = paste_faces(_faces(5), FIVE_FACES)
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    for i, (x, y, side) in enumerate(FIVE_FACES):
        assert (frame[y : y + side, x : x + side] == 40 * (i + 1)).all()
    assert np.array_equal(frame, paste_faces(_faces(5), FIVE_FACES))  # deterministic


def test_paste_faces_needs_one_face_per_slot() -> None:
    with pytest.raises(ValueError, match="4 faces for 5 slots"):
        paste_faces(_faces(4), FIVE_FACES)


def test_select_faces_keeps_accepted_faces_in_order() -> None:
    faces = _faces(6)
    calls: list[int] = []

    def accept(frame: np.ndarray, n: int) -> bool:
        calls.append(n)
        return frame[200, 300, 0] != 120  # the 1-face slot (250..390, 170..310) holds the face

    chosen = select_faces(iter(faces), accept, count=2)
    assert [int(f[0, 0]) for f in chosen] == [40, 80]
    assert calls[:2] == [1, 5]  # alone, then in all five slots
    with pytest.raises(ValueError, match="only 0 of 2"):
        select_faces(iter(faces), lambda frame, n: False, count=2)
    # A face that one pipeline misses in the crowded frame is not chosen.
    # (100, 300) lies in the 5-face frame's second slot (250..380, 50..180).
    chosen = select_faces(iter(faces), lambda frame, n: n == 1 or frame[100, 300, 0] != 40, count=2)
    assert [int(f[0, 0]) for f in chosen] == [80, 120]


def test_build_frames_gives_decodable_jpegs() -> None:
    frames = build_frames(_faces(5))
    assert set(frames) == {1, 5}
    for count, frame in frames.items():
        assert len(frame.boxes) == count
        decoded = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (480, 640, 3)
