"""YuNet (the still-photo default): drawn faces at many sizes, merging, threads, the real samples."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.detection import (
    YUNET_MIN_SCORE,
    DETECTORS,
    LANDMARK_NAMES,
    YUNET_SCALES,
    Detection,
    FaceDetector,
    YuNetDetector,
    _merge_boxes,
    _pad_to_min_side,
    get_detector,
    video_detector,
)
from core.pipeline import STILL_DETECTOR, PhotoOptions, default_min_score, photo_detector, still_detector
from tests.core.faces import REPO, draw_face, face_scene, iou

# The real photos are never copied into the project; tests read them where the workplace keeps them.
SAMPLES = Path(os.environ.get("FER_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
# Faces a person counts in each sample photo (../shared/samples/README.md).
SAMPLE_COUNTS = {
    "group_5_faces.jpg": 5,
    "one_face_smiling.jpg": 1,
    "one_face_speaker.jpg": 1,
    "one_face_gray_turned.jpg": 1,
    "posed_surprise.jpg": 1,
    "posed_disgust.jpg": 1,
    "posed_happy.jpg": 1,
    "posed_angry.jpg": 1,
    "no_face_drawing.jpg": 0,
    "no_face_photo.jpg": 0,
}


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return YuNetDetector()


def centred(size: int, *, width: int = 640, height: int = 480) -> np.ndarray:
    """A frame with one :func:`draw_face` of ``size`` centred (its oval is about 0.76*size wide)."""
    frame = np.full((height, width, 3), 60, np.uint8)
    top, left = height // 2 - size, width // 2 - size
    frame[top : top + 2 * size, left : left + 2 * size] = draw_face(size)
    return frame


def test_registered_and_the_still_default() -> None:
    assert isinstance(get_detector("yunet"), YuNetDetector)
    assert isinstance(YuNetDetector(), FaceDetector)
    assert STILL_DETECTOR == "yunet" and "yunet" in DETECTORS  # one constant names the photo default
    detector = photo_detector()  # YuNet behind the face verifier's second look (core.verifier)
    assert isinstance(detector.detector, YuNetDetector) and detector.scales == YUNET_SCALES
    assert isinstance(photo_detector(PhotoOptions(verify=False)), YuNetDetector)
    assert detector.min_score == default_min_score() == YUNET_MIN_SCORE  # its own defaults are the choice
    assert photo_detector(PhotoOptions(min_score=0.9)).min_score == 0.9  # options given win
    assert still_detector(min_score=0.9).min_score == 0.9  # the bare detector of experiments


def test_video_preset_runs_one_small_scale() -> None:
    assert video_detector("yunet").scales == (320,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_score": 1.5}, r"^min_score must be within 0\.\.1, got 1\.5$"),
        ({"scales": ()}, r"^scales must be one or more long sides in pixels, each >= 64, got \(\)$"),
        ({"scales": (640, 32)}, r"^scales must be one or more long sides in pixels, each >= 64, got \(640, 32\)$"),
        ({"nms_iou": 0.0}, r"^nms_iou must be between 0 and 1, got 0\.0$"),
        ({"min_face_size": 0}, "min_face_size must be a whole number of pixels >= 1"),
    ],
)
def test_option_errors(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        YuNetDetector(**options)


def test_missing_model_file(tmp_path: Path) -> None:
    from core.errors import ModelLoadError  # noqa: PLC0415

    with pytest.raises(ModelLoadError, match="YuNet model file not found"):
        YuNetDetector(model_path=tmp_path / "none.onnx")


def test_drawn_face_with_five_landmarks_in_order(yunet: YuNetDetector) -> None:
    [face] = yunet.detect(face_scene(faces=((200, 100),)))
    assert isinstance(face, Detection) and 0.6 <= face.score <= 1.0
    assert iou(face.box, (262, 150, 76, 100)) > 0.6  # the oval of draw_face(100) at (200, 100)
    assert len(face.landmarks) == len(LANDMARK_NAMES) == 5
    (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = face.landmarks
    # The person's right eye is on the image's left; eyes above the nose, the nose above the mouth.
    assert rex < nx < lex and rmx < lmx
    assert max(rey, ley) < ny < min(rmy, lmy)
    x, y, w, h = face.box
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in face.landmarks)


@pytest.mark.parametrize("size", [30, 60, 120, 240])
def test_faces_from_small_to_half_the_frame(yunet: YuNetDetector, size: int) -> None:
    [face] = yunet.detect(centred(size))
    assert abs(face.box[2] - 0.76 * size) < 0.3 * size


def test_face_filling_the_frame_needs_the_small_scale() -> None:
    tile = draw_face(100)[40:160, 50:150]
    frame = np.full((1200, 1600, 3), 60, np.uint8)
    frame[:, 300:1300] = cv2.resize(tile, (1000, 1200))
    [face] = YuNetDetector().detect(frame)
    assert face.box[3] > 800
    # One large size alone sees at most a part of it (the box of an eye-and-mouth region).
    assert all(d.box[3] < 800 for d in YuNetDetector(scales=(1280,)).detect(frame))


def test_group_of_faces_left_to_right_and_nothing_in_blanks(yunet: YuNetDetector) -> None:
    found = yunet.detect(face_scene(width=1000, height=300, faces=((0, 50), (300, 50), (700, 50))))
    assert len(found) == 3 and [d.box[0] for d in found] == sorted(d.box[0] for d in found)
    rng = np.random.default_rng(0)
    assert yunet.detect(np.full((480, 640, 3), 60, np.uint8)) == []
    assert yunet.detect(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []


def test_gray_bgra_and_tiny_images(yunet: YuNetDetector) -> None:
    bgr = face_scene(faces=((200, 100),))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    boxes = [[d.box for d in yunet.detect(image)] for image in (gray, bgr, bgra)]
    assert boxes[0] == boxes[1] == boxes[2] and len(boxes[0]) == 1
    assert yunet.detect(np.full((5, 7, 3), 60, np.uint8)) == []


@pytest.mark.parametrize("shape", [(5, 7, 3), (10, 12, 3), (16, 100, 3), (100, 5, 3), (31, 200, 3), (32, 320, 3), (320, 32, 3)])
def test_images_thinner_than_yunets_stride_give_no_garbage(shape: tuple[int, int, int]) -> None:
    # On a side of 32 px or less OpenCV's YuNet returns infinite boxes scored 1.0, differently from run
    # to run (CI crashed on a 5x7 image); such images are padded before the network sees them.
    detector = YuNetDetector()  # a fresh one: its networks are made for these sizes
    for image in (np.full(shape, 60, np.uint8), np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)):
        padded = _pad_to_min_side(image)
        assert min(padded.shape[:2]) >= 64 and np.array_equal(padded[: shape[0], : shape[1]], image)
        for _ in range(5):
            _ok, rows = detector._network((padded.shape[1], padded.shape[0])).detect(padded)
            assert rows is None or (np.isfinite(rows).all() and (rows[:, 14] < 0.3).all())
            report = detector.examine(image)
            assert report.faces == [] and report.dropped == []
    big = face_scene()
    assert _pad_to_min_side(big) is big


def test_non_finite_rows_from_the_network_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = YuNetDetector(scales=(640,))  # one pass over the 640x480 scene: the rows below are its pixels
    scene = face_scene(faces=((200, 100),))
    real = detector.detect(scene)
    assert len(real) == 1
    good = np.array([[*real[0].box, *np.ravel(real[0].landmarks), 0.9]], dtype=np.float32)
    bad = np.array([[-np.inf, 5e20, np.inf, 0.0] + [np.nan] * 10 + [1.0]], dtype=np.float32)

    class Network:
        def detect(self, image: np.ndarray) -> tuple[int, np.ndarray]:
            return 1, np.concatenate([bad, good])

    monkeypatch.setattr(detector, "_network", lambda size: Network())
    report = detector.examine(scene)
    assert [d.box for d in report.faces] == [real[0].box] and report.dropped == []


def test_min_face_size_and_min_score_filter() -> None:
    frame = face_scene(faces=((200, 100),))
    assert YuNetDetector(min_face_size=200).detect(frame) == []
    assert YuNetDetector(min_score=0.999).detect(frame) == []


def test_merge_keeps_the_surest_and_drops_overlaps_and_contained_boxes() -> None:
    boxes = np.array(
        [
            [0, 0, 100, 100],  # 0: kept (surest)
            [5, 5, 100, 100],  # 1: IoU 0.82 with 0: dropped
            [20, 20, 30, 30],  # 2: wholly inside 0: dropped
            [200, 0, 50, 50],  # 3: apart: kept
            [240, 0, 50, 50],  # 4: IoU 0.11 with 3, 20% inside it: kept
        ],
        dtype=np.float64,
    )
    scores = np.array([0.9, 0.8, 0.95 - 0.2, 0.7, 0.6])
    assert _merge_boxes(boxes, scores, iou=0.3, contained=0.7) == [0, 3, 4]
    assert _merge_boxes(boxes[:0], scores[:0], iou=0.3, contained=0.7) == []


def test_one_detector_shared_by_threads_gives_the_same_answers() -> None:
    detector = YuNetDetector()
    # Different sizes on purpose: cv2.FaceDetectorYN keeps its input size as state.
    frames = [face_scene(faces=((200, 100),)), centred(60, width=1000, height=700), centred(120, width=320, height=320)]
    expected = [detector.detect(frame) for frame in frames]
    jobs = frames * 8
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(detector.detect, jobs))
    assert results == expected * 8


def test_networks_kept_per_input_size_and_bounded() -> None:
    # One network per input size, so a photo's scales do not re-plan one network three times; the
    # answers do not depend on what ran before, and old sizes are dropped.
    detector = YuNetDetector()
    frames = [centred(60, width=1000, height=700), centred(40, width=640, height=480), centred(60, width=900, height=900)]
    fresh = [YuNetDetector().detect(frame) for frame in frames]
    assert fresh[0] and fresh[1] and fresh[2]
    for _ in range(2):
        assert [detector.detect(frame) for frame in frames] == fresh
    networks = detector._local.networks
    assert len(networks) == 2 * len(detector.scales)
    # The last photo's sizes are all kept (900x900 runs at 900, 640 and 320).
    assert {(900, 900), (640, 640), (320, 320)} <= set(networks)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the sample photos are not here ({SAMPLES}); set FER_SAMPLES_DIR")
@pytest.mark.parametrize(("name", "count"), sorted(SAMPLE_COUNTS.items()))
def test_sample_photos_face_counts(name: str, count: int, yunet: YuNetDetector) -> None:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    found = yunet.detect(image)
    assert len(found) == count, [(d.box, round(d.score, 3)) for d in found]
    assert all(len(d.landmarks) == 5 for d in found)


def test_fer_faces_refound_and_aligned_look_more_like_the_originals(fer_faces: list[np.ndarray]) -> None:
    from core.preprocess import crop_faces  # noqa: PLC0415

    detector = YuNetDetector()
    aligned, boxed = [], []
    for face in fer_faces:
        frame = np.full((480, 640), 128, np.uint8)
        frame[100:292, 200:392] = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
        scene = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        [found] = detector.detect(scene)
        assert iou(found.box, (200, 100, 192, 192)) > 0.4
        original = face.astype(np.float32)
        levelled = crop_faces(scene, [found.box], landmarks=[found.landmarks])[0, :, :, 0]
        aligned.append(np.abs(levelled - original).mean())
        boxed.append(np.abs(crop_faces(scene, [found.box], framing=None)[0, :, :, 0] - original).mean())
    # FER_FRAMING was fitted to put the crop where FER2013's was: closer than the box with its margin.
    assert np.mean(aligned) < np.mean(boxed)


def test_tiles_cover_the_length_with_overlap_and_end_at_the_edge() -> None:
    from core.detection import _tile_starts

    assert _tile_starts(4000, 1280, 128) == [0, 1152, 2304, 2720]
    assert _tile_starts(1280, 1280, 128) == [0]
    assert _tile_starts(900, 1280, 128) == [0]
    for length in (1281, 2500, 3999, 6000):
        starts = _tile_starts(length, 1280, 128)
        assert starts[0] == 0 and starts[-1] == length - 1280
        assert all(b - a <= 1280 - 128 for a, b in zip(starts, starts[1:]))  # neighbours share >= 128 px


SMALL = 40  # a drawn face with a 30x40 oval: lost when a 4000x3000 photo is shrunk to 1280


def test_small_faces_finds_in_a_12mp_photo_what_the_scales_lose() -> None:
    places = ((300, 300), (1152 - SMALL, 1500), (2900, 2500))  # the second straddles a tile seam
    scene = face_scene(width=4000, height=3000, faces=places, size=SMALL)
    assert YuNetDetector().detect(scene) == []
    found = YuNetDetector(small_faces=True).detect(scene)
    assert len(found) == len(places)
    for face, (x, y) in zip(found, places):
        assert iou(face.box, (x + round(0.62 * SMALL), y + SMALL // 2, round(0.76 * SMALL), SMALL)) > 0.4
        assert face.score >= YUNET_MIN_SCORE and len(face.landmarks) == 5
        assert all(x <= px <= x + 2 * SMALL and y <= py <= y + 2 * SMALL for px, py in face.landmarks)


def test_small_faces_leaves_large_faces_to_the_scales_and_small_photos_alone() -> None:
    scene = face_scene(width=4000, height=3000, faces=((2000, 1000),), size=600)
    scene[300 : 300 + 2 * SMALL, 300 : 300 + 2 * SMALL] = face_scene(width=2 * SMALL, height=2 * SMALL, faces=((0, 0),), size=SMALL)
    found = YuNetDetector(small_faces=True).detect(scene)
    widths = sorted(face.box[2] for face in found)
    assert len(widths) == 2 and widths[0] < 50 and widths[1] > 400, widths  # the small face and the large one, once
    frame = centred(60)
    assert YuNetDetector(small_faces=True).detect(frame) == YuNetDetector().detect(frame)  # no tile pass below 1280
    assert "small_faces=True" in repr(YuNetDetector(small_faces=True))
    with pytest.raises(ValueError, match="small_faces must be True or False"):
        YuNetDetector(small_faces="yes")
