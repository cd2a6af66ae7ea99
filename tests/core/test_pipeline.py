"""core.pipeline and core.factory: one typed options object, the one photo detector factory, the defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.detection import DETECTORS, YUNET_MIN_SCORE, HaarDetector, MTCNNDetector
from core.pipeline import STILL_DETECTOR, PhotoOptions, default_min_score, model_tta, photo_detector
from tests.core.faces import FAINT_FACE_SCORE, face_scene, faint_face_scene


def test_model_tta_reads_the_recorded_choice_and_defaults_to_off() -> None:
    assert model_tta({"tta": {"chosen": "flip"}}) == "flip"
    for metadata in (None, {}, {"tta": "flip"}, {"tta": {"chosen": "rotate"}}, {"tta": {}}):
        assert model_tta(metadata) == "none", metadata


def test_each_detector_has_its_own_default_score_and_the_options_say_which_applies() -> None:
    assert {name: default_min_score(name) for name in DETECTORS} == {
        "haar": 0.0, "mtcnn": 0.9, "blazeface": 0.6, "yunet": YUNET_MIN_SCORE,
    }  # fmt: skip
    assert default_min_score() == default_min_score(STILL_DETECTOR) == 0.6
    assert PhotoOptions().detector_name == STILL_DETECTOR and PhotoOptions(detector=" Haar ").detector == "haar"
    for name in DETECTORS:  # what a detector built without a min_score keeps is what default_min_score says
        if name != "mtcnn":  # (MTCNN's is checked without TensorFlow below)
            assert photo_detector(PhotoOptions(detector=name)).min_score == default_min_score(name), name
    assert MTCNNDetector().min_score == default_min_score("mtcnn")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"detector": "yolo"}, "unknown face detector 'yolo'"),
        ({"role": "webcam"}, "unknown model role 'webcam'"),
        ({"min_score": 1.5}, r"min_score must be within 0\.\.1, got 1\.5"),
        ({"tta": "rotate"}, "unknown test-time augmentation 'rotate'"),
        ({"small_faces": True, "detector": "haar"}, "small_faces is YuNet's; the haar detector"),
        ({"crops": True, "min_score": 0.5}, "crops skips face detection"),
    ],
)
def test_photo_options_are_checked_once_when_made(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhotoOptions(**options)


def test_min_score_reaches_yunet_itself_below_its_own_threshold() -> None:
    # The faint face scores between 0.3 and YuNet's own 0.6: before, a threshold under 0.6 applied
    # after the detector could not bring it back; now the detector keeps it when asked, and only then.
    frame = faint_face_scene()
    low, high = FAINT_FACE_SCORE
    assert photo_detector().detect(frame) == []  # the default view is unchanged
    (kept,) = photo_detector(PhotoOptions(min_score=0.3)).detect(frame)
    assert low <= kept.score <= high
    assert photo_detector(PhotoOptions(min_score=0.55)).detect(frame) == []  # above its score: dropped as asked
    (again,) = photo_detector(PhotoOptions(min_score=round(kept.score - 0.01, 3))).detect(frame)
    assert again.box == kept.box


def test_min_score_reaches_mtcnn_last_network(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[float] = []

    class Network:  # MTCNN's answer for one face, without TensorFlow: ONet scored it 0.85
        def detect_faces(self, rgb: np.ndarray, *, min_face_size: int, threshold_onet: float) -> list[dict]:
            asked.append(threshold_onet)
            return [{"box": [200, 100, 90, 110], "confidence": 0.85}] if threshold_onet <= 0.85 else []

    monkeypatch.setattr(MTCNNDetector, "_network", lambda self: Network())
    frame = face_scene()
    assert photo_detector(PhotoOptions(detector="mtcnn")).detect(frame) == []  # its own 0.9
    (face,) = photo_detector(PhotoOptions(detector="mtcnn", min_score=0.8)).detect(frame)
    assert face.score == pytest.approx(0.85) and asked == [0.9, 0.8]


def test_haar_keeps_every_box_its_cascade_accepts_unless_asked_for_more() -> None:
    frame = face_scene()
    (face,) = HaarDetector().detect(frame)
    assert HaarDetector(min_score=face.score).detect(frame) == [face]
    assert HaarDetector(min_score=min(1.0, face.score + 0.01)).detect(frame) == []


def test_the_recognizer_builds_a_named_detector_through_the_factory(tiny_model_dir: Path) -> None:
    from core.factory import build_recognizer  # noqa: PLC0415

    recognizer = build_recognizer(PhotoOptions(model=tiny_model_dir, min_score=0.3, tta="flip"))
    assert recognizer.detector().min_score == 0.3 and recognizer.tta == "flip"
    assert len(recognizer.predict_image(faint_face_scene())) == 1
    assert recognizer.detector("haar").min_score == 0.0  # a name: that detector's photo defaults
    assert build_recognizer(PhotoOptions(model=tiny_model_dir, crops=True)).tta == "none"  # the tiny model's own
