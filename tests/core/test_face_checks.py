"""YuNet's face checks (issue 25): scale agreement, landmark geometry, duplicates; on made and real material."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.false_faces import SAMPLE_COUNTS, Item, draw_animal, draw_pattern, on_canvas, score
from core.detection import (
    NO_CHECKS,
    DetectionReport,
    FaceChecks,
    YuNetDetector,
    examine,
    get_detector,
    landmark_problem,
)
from tests.core.faces import REPO, face_scene

SAMPLES = Path(os.environ.get("FER_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
POSED = REPO.parent / "shared" / "data" / "posed-photos-dev"

# A face in box (200, 100, 200, 200): eyes 80 px apart and level, nose 40 px below them, mouth 80.
FACE_POINTS = ((260.0, 170.0), (340.0, 170.0), (300.0, 210.0), (270.0, 250.0), (330.0, 250.0))
BOX = (200, 100, 200, 200)


def _moved(**points: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    names = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")
    return tuple(points.get(name, FACE_POINTS[i]) for i, name in enumerate(names))


@pytest.mark.parametrize(
    ("points", "words"),
    [
        (_moved(nose=(300.0, 320.0)), "nose outside the box"),
        (_moved(right_eye=(340.0, 170.0), left_eye=(260.0, 170.0)), "tilted 180 degrees"),  # eyes swapped
        (_moved(left_eye=(270.0, 170.0)), "eyes 0.05 of the box width apart"),
        (_moved(left_eye=(300.0, 240.0)), "eye line tilted 60 degrees"),
        (_moved(nose=(300.0, 165.0)), "nose -0.06 eye distances below"),
        (_moved(right_mouth=(270.0, 205.0), left_mouth=(330.0, 205.0)), "the mouth must be below the nose"),
        (_moved(right_mouth=(300.0, 250.0), left_mouth=(300.0, 250.0)), "mouth corners not side by side"),
    ],
)
def test_landmark_geometry_names_each_fault(points, words: str) -> None:
    assert landmark_problem(BOX, FACE_POINTS) is None
    problem = landmark_problem(BOX, points)
    assert problem is not None and words in problem


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scales": "yes"}, "FaceChecks.scales must be True or False"),
        ({"scale_min_side": 10}, "FaceChecks.scale_min_side must be a whole number of pixels >= 20"),
        ({"scale_min_side": 96.5}, "FaceChecks.scale_min_side must be a whole number"),
    ],
)
def test_checks_option_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaceChecks(**options)
    with pytest.raises(ValueError, match="checks must be a FaceChecks, got dict"):
        YuNetDetector(checks={"scales": False})


class _FakeNetwork:
    """Stands in for ``cv2.FaceDetectorYN``: the given full-resolution rows, shrunk to this pass's size."""

    def __init__(self, width: int, rows: dict[int, list[list[float]]], full_width: int) -> None:
        self.rows = np.asarray(rows.get(width, []), dtype=np.float64).reshape(-1, 15)
        self.factor = width / full_width

    def detect(self, image: np.ndarray) -> tuple[int, np.ndarray | None]:
        rows = self.rows.copy()
        rows[:, :14] *= self.factor
        return 1, rows if len(rows) else None


def _fake(rows: dict[int, list[list[float]]], **options) -> YuNetDetector:
    detector = YuNetDetector(**options)
    detector._network = lambda size: _FakeNetwork(size[0], rows, 640)  # type: ignore[method-assign]
    return detector


def _row(box: tuple[float, float, float, float], score: float, points=None) -> list[float]:
    x, y, w, h = box
    if points is None:  # FACE_POINTS moved and scaled into this box
        points = [((px - 200) * w / 200 + x, (py - 100) * h / 200 + y) for px, py in FACE_POINTS]
    return [x, y, w, h, *[v for p in points for v in p], score]


FRAME = np.full((480, 640, 3), 90, np.uint8)  # runs at 640 (itself) and 320


def test_a_large_box_missing_at_the_smaller_scale_is_dropped_with_why() -> None:
    big = _row((200, 100, 200, 200), 0.72)  # 100 px across at 320: it should be found there too
    report = _fake({640: [big]}).examine(FRAME)
    assert report.faces == []
    [drop] = report.dropped
    assert drop.rule == "scales" and drop.reason == "not found at the 320-px pass, where it would be 100 px across"
    assert drop.to_dict() == {"box": [200, 100, 200, 200], "detection_score": 0.72, "rule": "scales", "reason": drop.reason}
    # Found at both scales: kept. Small (90 px: 45 px at 320, under 96): one scale is enough.
    assert len(_fake({640: [big], 320: [_row((205, 105, 190, 190), 0.5)]}).detect(FRAME)) == 1
    assert len(_fake({640: [_row((200, 100, 90, 90), 0.72)]}).detect(FRAME)) == 1
    # The threshold is the preset's; no checks keeps the box as before issue 25.
    assert len(_fake({640: [big]}, checks=FaceChecks(scale_min_side=101)).detect(FRAME)) == 1
    assert _fake({640: [big]}, checks=NO_CHECKS).examine(FRAME) == DetectionReport(
        _fake({640: [big]}, checks=NO_CHECKS).detect(FRAME), []
    )


def test_bad_landmarks_are_dropped_and_a_box_holding_a_surer_face_is_a_duplicate() -> None:
    garbage = [(250, 150), (350, 150), (300, 120), (270, 250), (330, 250)]  # nose above the eyes
    rows = {640: [_row((100, 100, 80, 80), 0.9, garbage)], 320: [_row((100, 100, 80, 80), 0.9, garbage)]}
    [drop] = _fake(rows).examine(FRAME).dropped
    assert drop.rule == "landmarks" and "outside the box" in drop.reason  # these points are not even in it
    face, around = _row((300, 200, 90, 90), 0.95), _row((250, 150, 190, 190), 0.7)
    report = _fake({640: [face, around], 320: [face, around]}).examine(FRAME)
    assert [d.box for d in report.faces] == [(300, 200, 90, 90)]
    [drop] = report.dropped
    assert drop.rule == "duplicates" and drop.reason == "holds most of the surer face at x=300, y=200 (0.95)"
    assert len(_fake({640: [face, around], 320: [face, around]}, checks=FaceChecks(duplicates=False)).detect(FRAME)) == 2


def test_examine_on_detectors_without_checks_and_the_drawn_face_passes() -> None:
    scene = face_scene(faces=((200, 100),))
    haar = get_detector("haar")
    assert examine(haar, scene) == DetectionReport(haar.detect(scene), [])
    report = examine(YuNetDetector(), scene)
    assert len(report.faces) == 1 and report.dropped == []


def test_drawn_animals_and_patterns_are_not_faces() -> None:
    detector = YuNetDetector()
    for image in [on_canvas(draw_animal(120, "cat"))] + [on_canvas(draw_pattern(80, k)) for k in ("smiley", "dots", "socket")]:
        assert detector.detect(image) == []
    with pytest.raises(ValueError, match="kind must be 'cat' or 'dog'"):
        draw_animal(50, "cow")


def test_score_counts_found_and_false_faces() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    pasted = Item("pasted", "a", image, 1, ((100, 100, 50),))
    assert score(pasted, [(110, 110, 30, 30), (120, 105, 20, 20), (0, 0, 40, 40)]) == (1, 2)  # a repeat and a miss
    assert score(Item("photo", "b", image, 2), [(0, 0, 1, 1)] * 3) == (2, 1)
    assert score(Item("photo", "c", image, 1), []) == (0, 0)


def test_scikit_image_cat_is_dropped_and_its_people_kept() -> None:
    pytest.importorskip("skimage", reason="scikit-image (requirements-dev.txt) gives the cat and the people")
    import cv2  # noqa: PLC0415

    from benchmarks.false_faces import skimage_bgr  # noqa: PLC0415

    detector = YuNetDetector()
    cat = on_canvas(cv2.resize(skimage_bgr("chelsea"), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))
    report = detector.examine(cat)
    assert report.faces == [] and [d.rule for d in report.dropped] == ["scales"]
    assert report.dropped[0].detection.score > 0.7  # the cat's face YuNet scores 0.72
    assert len(YuNetDetector(checks=NO_CHECKS).detect(cat)) == 1
    for name in ("astronaut", "camera"):
        report = detector.examine(skimage_bgr(name))
        assert len(report.faces) == 1 and report.dropped == [], name
    for name in ("coffee", "rocket", "hubble_deep_field", "moon"):
        assert detector.examine(skimage_bgr(name)) == DetectionReport([], []), name


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"sample photos not found at {SAMPLES} (set FER_SAMPLES_DIR)")
def test_sample_photos_keep_every_face_and_drop_nothing() -> None:
    import cv2  # noqa: PLC0415

    detector = YuNetDetector()
    for name, count in SAMPLE_COUNTS.items():
        report = detector.examine(cv2.imread(str(SAMPLES / name)))
        assert (len(report.faces), report.dropped) == (count, []), name
    assert sum(SAMPLE_COUNTS.values()) == 12


@pytest.mark.skipif(not POSED.is_dir(), reason=f"posed development photos not found at {POSED}")
def test_posed_photos_one_face_each_nothing_dropped() -> None:
    import cv2  # noqa: PLC0415

    detector = YuNetDetector()
    for folder in sorted(p for p in POSED.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir())[:2]:
            report = detector.examine(cv2.imread(str(path)))
            assert (len(report.faces), report.dropped) == (1, []), path.name


def test_fer_faces_pasted_small_and_large_are_all_kept() -> None:
    from tests.core.faces import fer_csv_path  # noqa: PLC0415

    csv = fer_csv_path()
    if csv is None:
        pytest.skip("FER2013 CSV not found (set FER2013_PATH): pasted real faces not checked")
    from benchmarks.false_faces import pasted_material  # noqa: PLC0415

    pytest.importorskip("skimage", reason="the pasted scenes use scikit-image backgrounds")
    checked, unchecked = YuNetDetector(), YuNetDetector(checks=NO_CHECKS)
    for item in pasted_material(csv, count=16):
        before = score(item, [d.box for d in unchecked.detect(item.image)])
        after = score(item, [d.box for d in checked.detect(item.image)])
        assert after[0] == before[0], item.name


def test_false_faces_command_on_one_image_of_each_material(tmp_path: Path, capsys) -> None:
    pytest.importorskip("skimage", reason="the material includes scikit-image's images")
    import json  # noqa: PLC0415

    from benchmarks.false_faces import main  # noqa: PLC0415

    out = tmp_path / "ff.json"
    assert main(["--pasted", "0", "--limit", "1", "--explore", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| scikit-image | 1 | 1 | 1 / 0 | 1 / 0 | 1 / 0 | 1 / 0 |" in table  # the astronaut, at every stage
    result = json.loads(out.read_text())
    assert set(result["materials"]) == {"scikit-image", "animals", "drawings", "masks", "patterns"}
    assert all(0.3 <= box["score"] < 0.8 for box in result["low_boxes"])
    with pytest.raises(SystemExit):
        main(["--limit", "0"])
    assert "--limit must be >= 1, got 0" in capsys.readouterr().err


def test_cli_lists_dropped_boxes_only_on_request(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    import json  # noqa: PLC0415

    import cv2  # noqa: PLC0415

    from core.cli import main  # noqa: PLC0415

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), face_scene(faces=((200, 100),)))
    assert main(["predict", str(image), "--model", str(tiny_model_dir), "--quiet", "--show-dropped"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert len(report["faces"]) == 1 and report["dropped"] == []
    assert main(["predict", str(image), "--model", str(tiny_model_dir), "--quiet"]) == 0
    assert "dropped" not in json.loads(capsys.readouterr().out)[0]
    with pytest.raises(SystemExit):
        main(["predict", str(image), "--model", str(tiny_model_dir), "--format", "csv", "--show-dropped"])
    assert "--show-dropped adds to the JSON output" in capsys.readouterr().err


def test_false_faces_command_with_every_material_folder(tmp_path: Path, capsys) -> None:
    pytest.importorskip("skimage", reason="the material includes scikit-image's images")
    import cv2  # noqa: PLC0415

    from benchmarks.false_faces import main  # noqa: PLC0415
    from tests.app.conftest import write_fake_fer_csv  # noqa: PLC0415

    samples, posed = tmp_path / "samples", tmp_path / "posed" / "happy"
    samples.mkdir()
    posed.mkdir(parents=True)
    cv2.imwrite(str(samples / "one_face_smiling.jpg"), face_scene(faces=((200, 100),)))
    cv2.imwrite(str(posed / "a.jpg"), face_scene(faces=((200, 100),)))
    data = write_fake_fer_csv(tmp_path / "fer.csv.gz", per_class=1)
    args = ["--samples", str(samples), "--posed", str(tmp_path / "posed"), "--data", str(data), "--pasted", "1"]
    assert main([*args, "--limit", "1", "--json", str(tmp_path / "out.json")]) == 0
    table = capsys.readouterr().out
    assert "| sample photos | 1 | 1 | 1 / 0 | 1 / 0 | 1 / 0 | 1 / 0 |" in table  # the drawn face, as the README's one
    assert "| posed one-face photos | 1 | 1 | 1 / 0 | 1 / 0 | 1 / 0 | 1 / 0 |" in table
    assert "| FER2013 pasted | 1 | 1 |" in table  # a noise "face": found or not, it is counted
