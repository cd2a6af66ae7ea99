"""The false-face benchmark's folders of pictures: which material each picture joins, and what is left out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.false_faces import COUNTED_PHOTOS, counted_photos, scene_material

GCOMPRIS = Path("gcompris") / "categorization" / "gcompris" / "src" / "activities"


def _picture(path: Path, level: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((60, 80, 3), level, np.uint8))


def test_each_picture_joins_its_material_and_faces_are_left_out(tmp_path: Path) -> None:
    _picture(tmp_path / "wallpapers" / "room.png")
    _picture(tmp_path / GCOMPRIS / "categorization" / "resource" / "images" / "tools" / "hammer1.webp")
    _picture(tmp_path / GCOMPRIS / "erase" / "resource" / "koala.webp")
    _picture(tmp_path / "doc" / "data" / "squirrel_cls.jpg")
    for statue in ("usa/mountRushmore.webp", "wonders/colosseum.webp", "images/monuments/statueOfLiberty.webp"):
        _picture(tmp_path / GCOMPRIS / "explore_monuments" / "resource" / statue)
    (tmp_path / "wallpapers" / "notes.txt").write_text("not a picture")
    items = list(scene_material([tmp_path]))
    by_material: dict[str, list[str]] = {}
    for item in items:
        by_material.setdefault(item.material, []).append(Path(item.name.split(" ")[0]).name)
        assert item.faces == 0 and item.squares is None
    assert by_material == {
        "scenes without people": ["room.png"],
        "GCompris photos without people": ["hammer1.webp"],
        "animal photos": ["squirrel_cls.jpg"] * 3,  # whole, mirrored, 320 px
        "GCompris animal photos": ["koala.webp"] * 3,
    }  # carved human faces (statues, the Colosseum's carved head) are in no material
    koala = [item for item in items if item.material == "GCompris animal photos"]
    assert [item.name.split(" ", 1)[1] for item in koala] == ["whole", "mirrored", "320 px"]
    assert koala[2].image.shape[1] == 320 and np.array_equal(koala[1].image, koala[0].image[:, ::-1])


def test_counted_photos_are_read_with_their_counts(tmp_path: Path) -> None:
    _picture(tmp_path / "solvay_conference_1927.jpg")
    _picture(tmp_path / "unlisted.jpg")
    (item,) = counted_photos(tmp_path, COUNTED_PHOTOS, "group photo and portraits")
    assert (item.material, item.name, item.faces) == ("group photo and portraits", "solvay_conference_1927.jpg", 29)
    assert list(counted_photos(tmp_path / "missing", COUNTED_PHOTOS, "x")) == []
    assert list(counted_photos(None, COUNTED_PHOTOS, "x")) == []
