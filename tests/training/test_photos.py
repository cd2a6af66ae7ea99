"""Accuracy on labelled real photos (training.photos): labels, the CK+ look, scoring, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from training.photos import ck_style, label_from_name, labelled_photos, main, score_photos

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
POSED = {"posed_surprise.jpg": "surprise", "posed_disgust.jpg": "disgust", "posed_happy.jpg": "happy", "posed_angry.jpg": "angry"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("posed_disgust.jpg", "disgust"),
        ("45-m7-di-ph.jpg", "disgust"),
        ("0-f15-hao-ph.png", "happy"),
        ("15-f13-anc-ph.jpg", "angry"),
        ("0-f1-su-ph.jpg", "surprise"),
        ("Sad Face 2.JPG", "sad"),
        ("group_5_faces.jpg", None),  # no emotion in the name
        ("happy_or_sad.jpg", None),  # two: ambiguous, left out
    ],
)
def test_label_from_name(name: str, expected: str | None) -> None:
    assert label_from_name(name) == expected


def test_labels_file_wins_and_unlabelled_photos_are_left_out(tmp_path: Path) -> None:
    for name in ("a.jpg", "happy.jpg", "posed_sad.png", "notes.txt", "unlabelled.jpg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "labels.csv").write_text("file,emotion\na.jpg,Fear\nhappy.jpg,neutral\n")
    found = [(path.name, emotion) for path, emotion in labelled_photos(tmp_path)]
    assert found == [("a.jpg", "fear"), ("happy.jpg", "neutral"), ("posed_sad.png", "sad")]

    (tmp_path / "labels.csv").write_text("file,emotion\na.jpg,contempt\n")
    with pytest.raises(ValueError, match="'contempt'"):
        labelled_photos(tmp_path)
    with pytest.raises(FileNotFoundError):
        labelled_photos(tmp_path / "missing")


def test_ck_style_is_gray_640x490_and_keeps_the_aspect() -> None:
    image = np.zeros((200, 100, 3), np.uint8)
    image[:, :, 2] = 255  # red, tall
    out = ck_style(image)
    assert out.shape == (490, 640, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    lit = np.flatnonzero(out[245, :, 0])  # the photo's columns on the middle row
    assert 240 <= lit.size <= 250  # 100 * 490/200 = 245 px wide, centred
    assert abs((lit[0] + lit[-1]) / 2 - 319.5) <= 1
    assert out[245, 320, 0] == cv2.cvtColor(np.uint8([[[0, 0, 255]]]), cv2.COLOR_BGR2GRAY)[0, 0]


class ScriptedRecognizer:
    """Returns, per call, the faces scripted for that image's mean brightness."""

    def __init__(self, faces_by_mean: dict[int, list]) -> None:
        self.faces_by_mean = faces_by_mean
        self.seen: list[tuple[int, ...]] = []

    def predict_image(self, image: np.ndarray) -> list:
        self.seen.append(image.shape)
        return self.faces_by_mean[round(float(image.mean()))]


def face(emotion: str, confidence: float, score: float) -> SimpleNamespace:
    return SimpleNamespace(emotion=emotion, confidence=confidence, detection_score=score)


def test_score_takes_the_surest_face_and_counts_a_miss_wrong(tmp_path: Path) -> None:
    photos = []
    for name, value in (("happy.png", 10), ("sad.png", 20), ("fear.png", 30)):
        cv2.imwrite(str(tmp_path / name), np.full((60, 80, 3), value, np.uint8))
        photos.append((tmp_path / name, name.split(".")[0]))
    recognizer = ScriptedRecognizer({
        10: [face("sad", 0.9, 0.5), face("happy", 0.6, 0.95)],  # the surer detection is the happy one
        20: [face("neutral", 0.7, 0.9)],
        30: [],  # no face: wrong
    })  # fmt: skip
    report = score_photos(recognizer, photos, styles=["original"])
    result = report["styles"]["original"]
    assert report["n"] == 3 and result["correct"] == 1 and result["found"] == 2
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert [row["predicted"] for row in result["rows"]] == ["happy", "neutral", None]
    assert recognizer.seen == [(60, 80, 3)] * 3
    with pytest.raises(ValueError, match="unknown style 'sepia'"):
        score_photos(recognizer, photos, styles=["sepia"])


def test_cli_refuses_a_folder_without_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "group.jpg").write_bytes(b"")
    assert main(["--photos", str(tmp_path)]) == 2
    assert "no labelled photo" in capsys.readouterr().err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples not present")
def test_posed_samples_are_all_found_in_both_looks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in POSED:
        (tmp_path / name).symlink_to(SAMPLES / name)
    assert main(["--photos", str(tmp_path), "--model", "fast", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["tta"] == "flip"
    for style in ("original", "ck"):
        rows = report["styles"][style]["rows"]
        assert {row["file"]: row["label"] for row in rows} == POSED
        assert report["styles"][style]["found"] == 4, rows
        assert report["styles"][style]["correct"] == sum(row["predicted"] == row["label"] for row in rows)
