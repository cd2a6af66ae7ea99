"""The webcam candidates on clip frames and the photo section's timing (benchmarks.yunet_photos)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.yunet_photos import clip_frames, webcam_clip_rows

SAMPLE_CLIPS = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "video"


def write_clip(path: Path, values: list[int], size: tuple[int, int] = (160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert writer.isOpened()
    for value in values:
        writer.write(np.full((size[1], size[0], 3), value, np.uint8))
    writer.release()
    return path


def test_clip_frames_spreads_its_picks_over_the_clip(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "ramp.avi", [5 * i for i in range(50)])
    picked = [round(float(frame.mean()) / 5) for frame in clip_frames(clip, 5)]
    assert picked == [0, 12, 24, 36, 49]
    assert len(clip_frames(clip, 80)) == 50  # a shorter clip gives every frame


def test_rows_per_clip_and_candidate_on_a_clip_without_faces(tmp_path: Path) -> None:
    write_clip(tmp_path / "gray.avi", [128] * 8)
    (tmp_path / "notes.txt").write_text("not a clip")
    rows = webcam_clip_rows(tmp_path, frames_per_clip=30, repeats=1)
    assert [row["detector"].split(" ")[0] for row in rows] == ["blazeface", "yunet"]
    for row in rows:
        assert row["clip"] == "gray.avi" and row["size"] == "160x120" and row["frames"] == 8
        assert row["frames_with_face"] == 0
        assert row["fps"] == pytest.approx(1000.0 / row["detect_ms"], rel=0.02)


@pytest.mark.skipif(not SAMPLE_CLIPS.is_dir(), reason="../shared/samples/video not present")
def test_both_candidates_find_the_close_up_face_in_every_frame() -> None:
    rows = webcam_clip_rows(SAMPLE_CLIPS, frames_per_clip=6, repeats=1)
    close_up = {row["detector"]: row for row in rows if row["clip"] == "woman_sad_to_happy.mp4"}
    assert len(close_up) == 2
    assert all(row["frames_with_face"] == row["frames"] == 6 for row in close_up.values())


def test_detectors_timed_side_by_side_take_turns() -> None:
    from benchmarks.yunet_photos import _interleaved_median_ms  # noqa: PLC0415

    order: list[str] = []

    def call(label: str) -> Callable[[], str]:
        return lambda: order.append(label) or f"{label} result"

    timed = _interleaved_median_ms({"a": call("a"), "b": call("b"), "c": call("c")}, repeats=4)
    assert order[:3] == ["a", "b", "c"]  # the warm-up
    assert order[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]  # each repetition starts one later
    assert {label: out for label, (_ms, out) in timed.items()} == {"a": "a result", "b": "b result", "c": "c result"}
    assert all(ms >= 0 for ms, _out in timed.values())
