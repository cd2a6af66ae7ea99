"""The face verifier (issue 36): O-Net's second look at unsure boxes, behind the photo and live factories."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.false_faces import SAMPLE_COUNTS, draw_animal, on_canvas
from core.detection import Detection, DetectionReport, Dropped, examine, get_detector
from core.errors import ModelLoadError
from core.pipeline import PhotoOptions, live_detector, photo_detector
from core.verifier import (
    PHOTO_THRESHOLD,
    PRESENCE_BELOW,
    PRESENCE_FILE,
    PRESENCE_SCALE,
    PRESENCE_SIZE,
    PRESENCE_THRESHOLD,
    RULE,
    VERIFIER_FILE,
    VERIFIER_SIZE,
    VERIFY_BELOW,
    VIDEO_THRESHOLD,
    FaceVerifier,
    VerifiedDetector,
    frontal,
    presence_crop,
    verified,
    verifier_crop,
)
from tests.core.faces import REPO, draw_face, face_scene

SAMPLES = Path(os.environ.get("FER_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
FACE_BOX = (263, 153, 75, 99)  # where YuNet puts face_scene()'s drawn face


class _Fixed:
    """A detector that finds what it is told, with one box its own checks dropped."""

    name = "fixed"
    min_score = 0.42

    def __init__(self, faces: list[Detection], dropped: list[Dropped] = ()) -> None:
        self.faces, self.dropped = faces, list(dropped)

    def detect(self, image: np.ndarray) -> list[Detection]:
        return list(self.faces)

    def examine(self, image: np.ndarray) -> DetectionReport:
        return DetectionReport(list(self.faces), list(self.dropped))


class _Counting(FaceVerifier):
    """The real verifier, counting the crops its network is shown."""

    shown = 0

    def network_probabilities(self, crops: np.ndarray) -> np.ndarray:
        self.shown += len(crops)
        return super().network_probabilities(crops)


class _Judged(FaceVerifier):
    """The real verifier with O-Net's and the face mesh's answers fixed, keeping the boxes the face mesh is shown."""

    def __init__(self, onet: float, presence: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.onet, self.presence, self.asked = onet, presence, []

    def decision_probabilities(self, image_bgr: np.ndarray, boxes: list) -> np.ndarray:
        return np.full(len(boxes), self.onet)

    def presence_probabilities(self, image_bgr: np.ndarray, faces: list[Detection]) -> np.ndarray:
        self.asked += faces
        return np.full(len(faces), self.presence)


BOX = (200, 150, 120, 120)
FRONT = ((230.0, 190.0), (290.0, 190.0), (260.0, 220.0), (235.0, 250.0), (285.0, 250.0))  # eyes 60 px apart, nose between
TURNED = ((300.0, 190.0), (320.0, 190.0), (300.0, 220.0), (290.0, 250.0), (310.0, 250.0))  # eyes 20 px apart: a profile


def _turned(points: tuple, degrees: float, centre: tuple[float, float] = (260.0, 210.0)) -> tuple:
    turn = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return tuple(tuple(float(v) for v in turn @ (x, y, 1.0)) for x, y in points)


def _noise(seed: int = 3) -> np.ndarray:
    return cv2.GaussianBlur(np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 6)


def test_the_crop_is_onets_input_square_gray_padded_and_stretched() -> None:
    image = face_scene()
    crop = verifier_crop(image, FACE_BOX)
    assert crop.shape == (VERIFIER_SIZE, VERIFIER_SIZE, 3) and crop.dtype == np.float32
    assert -1.0 <= crop.min() < -0.9 and 0.9 < crop.max() <= 1.0  # stretched to the full range
    # A darker copy of the same face gives (nearly) the same crop: the stretch undoes the lighting.
    dark = (image.astype(np.float32) * 0.35).astype(np.uint8)
    assert np.abs(verifier_crop(dark, FACE_BOX) - crop).mean() < 0.05
    # A box reaching past the corner: the outside is gray (O-Net's 0 before the stretch), not an error.
    corner = verifier_crop(np.full((100, 100, 3), 200, np.uint8), (-50, -50, 100, 100))
    assert corner.shape == (VERIFIER_SIZE, VERIFIER_SIZE, 3) and np.isfinite(corner).all()
    # RGB order, as MTCNN feeds O-Net: a blue BGR patch is blue in the crop's last channel.
    patch = np.zeros((60, 60, 3), np.uint8)
    patch[:, 30:] = (255, 0, 0)
    rgb = verifier_crop(patch, (0, 0, 60, 60))
    assert rgb[:, 40:, 2].mean() > 0.9 and rgb[:, 40:, 0].mean() < -0.9


def test_onet_tells_a_drawn_face_from_a_dog_and_from_noise() -> None:
    verifier = FaceVerifier()
    face = verifier.face_probabilities(face_scene(), [FACE_BOX])
    dog = on_canvas(draw_animal(120, "dog"))
    not_faces = verifier.face_probabilities(dog, [(255, 189, 125, 113)])  # where YuNet finds the drawn dog
    noise = verifier.face_probabilities(_noise(), [(200, 150, 120, 120)])
    assert face[0] > 0.5 and not_faces[0] < PHOTO_THRESHOLD and noise[0] < PHOTO_THRESHOLD
    assert verifier.face_probabilities(face_scene(), []).shape == (0,)


def test_sure_boxes_cost_nothing_and_unsure_ones_are_looked_at() -> None:
    verifier = _Counting()
    sure = Detection((200, 150, 120, 120), VERIFY_BELOW, None)
    unsure = Detection((220, 170, 100, 100), VERIFY_BELOW - 0.01, None)
    report = VerifiedDetector(_Fixed([sure]), verifier).examine(_noise())
    assert report.faces == [sure] and report.dropped == [] and verifier.shown == 0
    report = VerifiedDetector(_Fixed([sure, unsure]), verifier).examine(_noise())
    assert report.faces == [sure] and verifier.shown == 2  # the crop says no face: its mirror is asked too
    (drop,) = report.dropped
    assert drop.detection == unsure and drop.rule == RULE
    assert "O-Net" in drop.reason and f"under {PHOTO_THRESHOLD:g}" in drop.reason


def test_a_face_the_detector_is_unsure_of_is_kept_at_one_look() -> None:
    unsure_face = Detection(FACE_BOX, 0.5, None)
    verifier = _Counting()
    assert VerifiedDetector(_Fixed([unsure_face]), verifier).detect(face_scene()) == [unsure_face]
    assert verifier.shown == 1  # a face on its crop: no mirror needed


def test_a_box_is_dropped_only_when_its_mirror_agrees() -> None:
    scene = face_scene()
    verifier = FaceVerifier(threshold=0.99)  # strict enough that the drawn face's own crop fails
    crop, mirror = (verifier.face_probabilities(scene, [FACE_BOX], mirrored=m)[0] for m in (False, True))
    assert crop < 0.99 and crop != mirror  # O-Net sees the mirrored crop differently
    (decided,) = verifier.decision_probabilities(scene, [FACE_BOX])
    assert decided == pytest.approx((crop + mirror) / 2)
    (lenient,) = FaceVerifier(threshold=0.1).decision_probabilities(scene, [FACE_BOX])
    assert lenient == pytest.approx(crop)  # over the threshold on its crop: the crop's own probability


def test_the_wrapped_detectors_drops_and_settings_come_through() -> None:
    checked = Dropped(Detection((10, 10, 50, 50), 0.7, None), "landmarks", "mouth above the nose")
    unsure = Detection((300, 200, 100, 100), 0.6, None)
    wrapped = VerifiedDetector(_Fixed([unsure], [checked]), FaceVerifier())
    report = examine(wrapped, _noise())
    assert report.faces == [] and [d.rule for d in report.dropped] == ["landmarks", RULE]  # left to right
    assert wrapped.name == "fixed" and wrapped.min_score == 0.42  # the wrapped detector's settings
    with pytest.raises(AttributeError):
        _ = wrapped.no_such_setting


def test_thresholds_and_model_file_are_checked() -> None:
    for bad in (-0.1, 1.5, True, "0.2"):
        with pytest.raises(ValueError, match="within 0..1"):
            FaceVerifier(threshold=bad)
    with pytest.raises(ValueError, match="within 0..1"):
        FaceVerifier(below=2)
    with pytest.raises(ModelLoadError, match="not found"):
        FaceVerifier(model_path="/no/such/onet.tflite")
    with pytest.raises(ValueError, match="crops must be"):
        FaceVerifier().network_probabilities(np.zeros((1, 24, 24, 3), np.float32))


def test_a_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "onet.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelLoadError, match="face verifier"):
        FaceVerifier(model_path=bad).face_probabilities(face_scene(), [FACE_BOX])


def test_the_factories_put_it_behind_every_detector_but_mtcnn() -> None:
    assert VERIFIER_FILE.is_file() and VERIFIER_FILE.stat().st_size < 2_000_000  # shipped, small
    for name in ("yunet", "haar", "blazeface"):
        detector = photo_detector(PhotoOptions(detector=name))
        assert isinstance(detector, VerifiedDetector) and detector.verifier.threshold == PHOTO_THRESHOLD
        assert not isinstance(photo_detector(PhotoOptions(detector=name, verify=False)), VerifiedDetector)
        live = live_detector(name)
        assert isinstance(live, VerifiedDetector) and live.verifier.threshold == VIDEO_THRESHOLD
        assert not isinstance(live_detector(name, verify=False), VerifiedDetector)
    mtcnn = get_detector("mtcnn")
    assert verified(mtcnn) is mtcnn  # O-Net is its own last stage already
    once = photo_detector()
    assert verified(once) is once  # never wrapped twice
    with pytest.raises(ValueError, match="verify=False"):
        PhotoOptions(crops=True, verify=False)
    with pytest.raises(ValueError, match="True or False"):
        PhotoOptions(verify="no")


def test_the_photo_default_reads_no_drawn_dog_unless_asked() -> None:
    dog = on_canvas(draw_animal(120, "dog"))  # YuNet: 0.86, past its face checks; O-Net: 0.01
    assert photo_detector(PhotoOptions(verify=False)).detect(dog) != []
    report = examine(photo_detector(), dog)
    assert report.faces == [] and [d.rule for d in report.dropped] == [RULE]


def test_the_live_path_drops_a_test_pattern_and_keeps_a_face() -> None:
    # A pattern like Chromium's fake camera (green, a lighter wedge, corner squares): whatever the live
    # detector finds in it is no face; the drawn face is kept.
    frame = np.full((480, 640, 3), (0, 128, 0), np.uint8)
    cv2.ellipse(frame, (320, 240), (120, 120), 0, -25, 0, (30, 255, 70), -1)
    for x, y in ((0, 0), (600, 0), (0, 440), (600, 440)):
        cv2.rectangle(frame, (x, y), (x + 39, y + 39), (0, 255, 0), -1)
    cv2.putText(frame, "0:00:02:450 49", (90, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (60, 230, 90), 2)
    near = np.full((480, 640, 3), 60, np.uint8)
    near[:320, 100:420] = draw_face(160)  # a face near the camera, as a webcam sees one
    assert live_detector("blazeface", verify=False).detect(frame) != []  # the webcam default's box on it (0.58)
    for name in ("blazeface", "yunet", "haar"):
        assert live_detector(name).detect(frame) == [], name
        assert len(live_detector(name).detect(near)) == 1, name


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the real sample photos are not at {SAMPLES}")
def test_every_face_of_the_sample_photos_is_kept() -> None:
    detector = photo_detector()
    for name, count in SAMPLE_COUNTS.items():
        image = cv2.imread(str(SAMPLES / name), cv2.IMREAD_COLOR)
        report = examine(detector, image)
        assert len(report.faces) == count, (name, report.dropped)
        assert not [d for d in report.dropped if d.rule == RULE], name


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tensorflows_interpreter_serves_it_where_litert_does_not_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.litert  # noqa: PLC0415

    def missing() -> None:
        raise core.litert.LiteRTUnavailable("no ai-edge-litert here")

    litert = FaceVerifier().face_probabilities(face_scene(), [FACE_BOX])
    monkeypatch.setattr(core.litert, "interpreter_class", missing)
    fallback = FaceVerifier().face_probabilities(face_scene(), [FACE_BOX])  # a new verifier: a new interpreter
    np.testing.assert_allclose(fallback, litert, atol=1e-5)


def test_threads_get_their_own_interpreter() -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    verifier = FaceVerifier()
    scene = face_scene()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: verifier.face_probabilities(scene, [FACE_BOX])[0], range(16)))
    assert len(set(np.round(results, 6))) == 1 and results[0] > 0.5


def test_frontal_reads_the_landmarks_at_any_tilt() -> None:
    assert frontal(Detection(BOX, 0.6, FRONT))
    assert frontal(Detection(BOX, 0.6, _turned(FRONT, 40)))  # a tilted head is still seen from the front
    assert not frontal(Detection(BOX, 0.6, TURNED))  # eyes a sixth of the box apart: turned to profile
    nose_aside = (*FRONT[:2], (300.0, 220.0), *FRONT[3:])  # the nose 40 px right of the eyes' middle (2/3 of 60)
    assert not frontal(Detection(BOX, 0.6, nose_aside))
    assert not frontal(Detection(BOX, 0.6, None))  # Haar, BlazeFace: no landmarks, no face-mesh look


def test_the_face_mesh_looks_only_at_frontal_boxes_onet_is_not_sure_of() -> None:
    face = Detection(BOX, 0.6, FRONT)
    verifier = _Judged(0.5, PRESENCE_THRESHOLD / 4)
    kept, dropped = verifier.split(_noise(), [face])
    assert kept == [] and verifier.asked == [face]
    (drop,) = dropped
    assert drop.rule == RULE and "MediaPipe face mesh" in drop.reason and "face presence 0.05" in drop.reason
    assert f"under {PRESENCE_THRESHOLD:g}" in drop.reason and "0.50" in drop.reason
    assert _Judged(0.5, PRESENCE_THRESHOLD).split(_noise(), [face]) == ([face], [])  # at the threshold: a face
    for verifier, detection in (
        (_Judged(PRESENCE_BELOW, 0.0), face),  # O-Net is sure
        (_Judged(0.5, 0.0), Detection(BOX, 0.6, TURNED)),  # a turned face: O-Net alone judges it
        (_Judged(0.5, 0.0), Detection(BOX, 0.6, None)),
        (_Judged(0.5, 0.0), Detection(BOX, VERIFY_BELOW, FRONT)),  # the detector is sure
        (_Judged(0.5, 0.0, presence_threshold=None), face),  # no face-mesh look
    ):
        assert verifier.split(_noise(), [detection]) == ([detection], []) and verifier.asked == []
    onet_says_no = _Judged(PHOTO_THRESHOLD / 2, 1.0)
    (drop,) = onet_says_no.split(_noise(), [face])[1]
    assert "O-Net" in drop.reason and onet_says_no.asked == []  # dropped already: the face mesh is not asked
    with pytest.raises(ValueError, match="no face-mesh look"):
        FaceVerifier(presence_threshold=None).presence_probabilities(_noise(), [face])


def test_the_face_mesh_tells_a_drawn_face_from_noise() -> None:
    scene = face_scene()
    (drawn,) = get_detector("yunet", min_score=0.3).detect(scene)
    verifier = FaceVerifier()
    assert frontal(drawn) and verifier.presence_probabilities(scene, [drawn])[0] > 0.9
    assert verifier.presence_probabilities(_noise(), [Detection(BOX, 0.6, FRONT)])[0] < 0.01
    assert verifier.presence_probabilities(scene, []).shape == (0,)


def test_the_face_mesh_crop_levels_the_eyes() -> None:
    image = np.full((480, 640, 3), 200, np.uint8)
    eyes = _turned(FRONT, -30)[:2]  # the right eye up and left of the left one, 30 degrees off level
    for x, y in eyes:
        cv2.circle(image, (round(x), round(y)), 6, (0, 0, 0), -1)
    crop = presence_crop(image, Detection(BOX, 0.6, _turned(FRONT, -30)))
    assert crop.shape == (PRESENCE_SIZE, PRESENCE_SIZE, 3) and crop.dtype == np.float32 and 0 <= crop.min() < crop.max() <= 1
    count, _labels, stats, centres = cv2.connectedComponentsWithStats((crop[:, :, 0] < 0.5).astype(np.uint8))
    blobs = sorted(tuple(centres[k]) for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] > 20)
    assert len(blobs) == 2
    (x1, y1), (x2, y2) = blobs
    assert abs(y1 - y2) < 1.5  # level
    assert x2 - x1 == pytest.approx(60 * PRESENCE_SIZE / (PRESENCE_SCALE * 120), abs=1.5)  # 1.5 times the box, to 192 px
    big = cv2.resize(image, None, fx=8, fy=8)  # a large face: shrunk first, the same crop
    scaled = Detection(tuple(8 * v for v in BOX), 0.6, tuple((8 * x, 8 * y) for x, y in _turned(FRONT, -30)))
    assert np.abs(presence_crop(big, scaled) - crop).mean() < 0.02


def test_the_face_mesh_model_file_is_checked(tmp_path: Path) -> None:
    assert PRESENCE_FILE.is_file() and PRESENCE_FILE.stat().st_size < 2_000_000  # shipped, small
    digest = hashlib.sha256(PRESENCE_FILE.read_bytes()).hexdigest()
    assert f"{digest}  mediapipe_face_landmark/face_landmark.tflite" in (PRESENCE_FILE.parents[1] / "README.md").read_text()
    assert "Apache License" in (PRESENCE_FILE.parent / "LICENSE").read_text()
    with pytest.raises(ModelLoadError, match="face mesh model file not found"):
        FaceVerifier(presence_path=tmp_path / "none.tflite")
    assert FaceVerifier(presence_threshold=None, presence_path=tmp_path / "none.tflite").presence_threshold is None
    with pytest.raises(ValueError, match="presence_threshold must be within 0..1"):
        FaceVerifier(presence_threshold=1.2)
    bad = tmp_path / "mesh.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelLoadError, match="face mesh"):
        FaceVerifier(presence_path=bad).presence_probabilities(_noise(), [Detection(BOX, 0.6, FRONT)])
    with pytest.raises(ModelLoadError, match="is not the face mesh network"):  # O-Net's file in its place
        FaceVerifier(presence_path=VERIFIER_FILE).presence_probabilities(_noise(), [Detection(BOX, 0.6, FRONT)])
