"""The batch section's photos and table (the section itself starts Ray three times: run by hand)."""

from __future__ import annotations

from pathlib import Path

import cv2

from benchmarks.batch import SIZES, make_photos
from benchmarks.run import print_tables


def test_make_photos_writes_scenes_of_every_size_with_one_to_three_faces(tmp_path: Path) -> None:
    facts = make_photos(tmp_path, 6, None)
    files = sorted(tmp_path.glob("photo*.jpg"))
    assert len(files) == 6
    shapes = [cv2.imread(str(f)).shape[:2] for f in files]
    assert shapes[:5] == [(h, w) for w, h in SIZES] and shapes[5] == (SIZES[0][1], SIZES[0][0])
    assert facts == {"photos": 6, "faces_pasted": 1 + 2 + 3 + 1 + 2 + 3, "megapixels": round(sum(w * h for w, h in SIZES + SIZES[:1]) / 1e6, 1),
                     "faces": "drawn faces (no FER2013 CSV)"}  # fmt: skip


def test_the_batch_table_prints_each_run() -> None:
    rows = [
        {"run": "core predict, one CPU", "wall_s": 10.0, "photos_per_s": 5.0, "vs_cli": 1.0, "faces": 7, "worker_peak_rss_mb": 300.0},
        {"run": "batch, 2 workers", "wall_s": 5.0, "photos_per_s": 10.0, "vs_cli": 2.0, "vs_one_worker": 1.9, "startup_s": 4.0,
         "faces": 7, "worker_peak_rss_mb": 550.0},
    ]  # fmt: skip
    section = {"photos": {"photos": 50, "faces": "drawn faces", "megapixels": 9.5}, "cpus": 2, "load_average": [0.1], "rows": rows}
    text = print_tables({"sections": {"batch": section}, "targets": []})
    assert "Batch: 50 photos (drawn faces, 9.5 MP)" in text
    assert "batch, 2 workers" in text and "1.90" in text and "550" in text
