"""benchmarks.video: the video section's rows on short clips of a FER2013 face (the dataset is needed for the face)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.frames import find_fer_csv
from tests.real_data import SKIP_REASON

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "fast"


@pytest.mark.skipif(find_fer_csv(None) is None, reason=SKIP_REASON)
def test_video_section_measures_speed_and_memory(tmp_path: Path) -> None:
    from benchmarks.speed import Subject  # noqa: PLC0415
    from benchmarks.video import video_section  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    subject = Subject("fast", EmotionRecognizer.from_dir(SHIPPED), False, SHIPPED, None)
    section = video_section([subject], find_fer_csv(None), quick=True)
    paths = {row["path"]: row for row in section["speed"]}
    assert len(paths) == 3 and all(row["frames"] == 60 and row["frames_per_s"] > 0 for row in paths.values())
    assert paths["video preset yunet, no TTA"]["frames_with_face"] == 60  # YuNet finds the face in every frame
    assert paths["photo default (still detector, model's TTA)"]["tta"] == "flip"  # the shipped model's choice
    short, long = section["memory"]
    assert (short["frames_read"], long["frames_read"]) == (60, 180)
    assert long["rows"] > short["rows"] > 0
    assert abs(long["vs_shortest_mb"]) < 50  # streaming: three times the clip, not three times the memory
