"""core.detection: registry, Haar, MTCNN and BlazeFace on drawn faces, options, clipping and threads."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from core.detection import (
    DETECTORS,
    BlazeFaceDetector,
    Detection,
    FaceDetector,
    HaarDetector,
    MTCNNDetector,
    _BLAZEFACE_MODELS,
    _finish,
    _mtcnn_safe_min_face_size,
    _ssd_anchor_centres,
    _weighted_nms,
    get_detector,
)
from tests.core.faces import REPO, face_scene, iou

# draw_face(100) pasted at (200, 100): the oval spans about x 262..338, y 150..250.
FACE_AT = (200, 100)
EXPECTED = (250, 140, 100, 100)


def test_registry_names_and_unknown_name_message() -> None:
    assert tuple(DETECTORS) == ("haar", "mtcnn", "blazeface", "yunet")
    with pytest.raises(
        ValueError, match=r"^unknown face detector 'yolo'; known detectors: haar, mtcnn, blazeface, yunet$"
    ):
        get_detector("yolo")
    assert isinstance(get_detector("HAAR"), HaarDetector)
    assert isinstance(get_detector("mtcnn", min_face_size=40), MTCNNDetector)


def test_detectors_follow_the_protocol() -> None:
    assert isinstance(HaarDetector(), FaceDetector)
    assert isinstance(MTCNNDetector(), FaceDetector)
    assert isinstance(BlazeFaceDetector(), FaceDetector)
    assert HaarDetector.name == "haar" and MTCNNDetector.name == "mtcnn" and BlazeFaceDetector.name == "blazeface"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_face_size": 0}, "min_face_size must be a whole number of pixels >= 1"),
        ({"min_face_size": 2.5}, "min_face_size must be a whole number"),
        ({"max_side": 10}, "max_side must be None"),
        ({"scale_factor": 1.0}, "scale_factor must be > 1"),
        ({"min_neighbors": -1}, "min_neighbors must be >= 0"),
    ],
)
def test_haar_option_errors(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        HaarDetector(**options)


def test_mtcnn_option_errors() -> None:
    with pytest.raises(ValueError, match="min_score must be within 0..1"):
        MTCNNDetector(min_score=1.5)
    with pytest.raises(TypeError):
        get_detector("mtcnn", not_an_option=1)


def test_importing_core_loads_no_heavy_library() -> None:
    code = (
        "import sys, core.cli, core.detection, core.recognizer, core.imageio, core.annotate, core.preprocess; "
        "heavy = {'tensorflow', 'keras', 'mtcnn', 'streamlit'} & set(sys.modules); "
        "sys.exit(f'imported at import time: {heavy}' if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_finish_maps_back_clips_filters_and_sorts() -> None:
    raw = [((50, 10, 20, 20), 0.7), ((-10, -10, 30, 30), 1.4), ((5, 5, 4, 4), 0.9), ((200, 200, 5, 5), 0.9)]
    found = _finish(raw, scale=0.5, image_shape=(100, 200, 3), min_face_size=10)
    assert found == [Detection((0, 0, 40, 40), 1.0), Detection((100, 20, 40, 40), 0.7)]
    assert all(isinstance(v, int) for d in found for v in d.box)


# --- Haar -------------------------------------------------------------------------------------


def test_haar_finds_the_drawn_face() -> None:
    found = HaarDetector().detect(face_scene(faces=(FACE_AT,)))
    assert len(found) == 1
    assert iou(found[0].box, EXPECTED) > 0.5
    assert 0.5 < found[0].score <= 1.0


def test_haar_two_faces_left_to_right() -> None:
    found = HaarDetector().detect(face_scene(width=700, faces=((450, 100), (20, 100))))
    assert len(found) == 2
    assert found[0].box[0] < found[1].box[0]


def test_haar_accepts_gray_and_bgra() -> None:
    scene = face_scene(faces=(FACE_AT,))
    detector = HaarDetector()
    expected = detector.detect(scene)
    assert detector.detect(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY)) == expected
    assert detector.detect(cv2.cvtColor(scene, cv2.COLOR_BGR2BGRA)) == expected


def test_haar_no_face_and_tiny_images() -> None:
    detector = HaarDetector()
    assert detector.detect(np.full((240, 320, 3), 60, np.uint8)) == []
    assert detector.detect(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)) == []
    assert detector.detect(np.zeros((5, 5, 3), np.uint8)) == []


def test_haar_min_face_size_drops_small_faces() -> None:
    scene = face_scene(faces=(FACE_AT,))
    assert HaarDetector(min_face_size=40).detect(scene)
    assert HaarDetector(min_face_size=200).detect(scene) == []


def test_haar_downscales_large_frames_and_maps_boxes_back() -> None:
    scene = cv2.resize(face_scene(faces=(FACE_AT,)), (1920, 1440), interpolation=cv2.INTER_LINEAR)
    found = HaarDetector(max_side=640).detect(scene)
    assert len(found) == 1
    assert iou(found[0].box, tuple(3 * v for v in EXPECTED)) > 0.5
    x, y, w, h = found[0].box
    assert x + w <= 1920 and y + h <= 1440


def test_haar_is_thread_safe() -> None:
    detector = HaarDetector()
    scenes = [face_scene(faces=((x, 100),)) for x in (20, 150, 300, 420)]
    expected = [detector.detect(scene) for scene in scenes]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(detector.detect, scenes * 3))
    assert got == expected * 3


def test_haar_on_a_real_fer2013_face(fer_scene) -> None:
    frame, box = fer_scene
    found = HaarDetector().detect(frame)
    assert len(found) == 1 and iou(found[0].box, box) > 0.5


# --- MTCNN ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mtcnn() -> MTCNNDetector:
    return MTCNNDetector()


def test_mtcnn_safe_min_face_size() -> None:
    assert _mtcnn_safe_min_face_size(480, 640, 100) == 21
    assert _mtcnn_safe_min_face_size(480, 640, 15) == 15
    assert _mtcnn_safe_min_face_size(480, 640, 5) == 12


def test_mtcnn_is_lazy() -> None:
    detector = MTCNNDetector()
    assert detector._mtcnn is None  # nothing built until the first detect()


# MTCNN is pickier about a cartoon face than Haar: draw it at 120 px (oval about 91x120 at 274, 160).
MTCNN_SCENE = {"faces": (FACE_AT,), "size": 120}
MTCNN_EXPECTED = (274, 160, 91, 120)


def test_mtcnn_finds_the_drawn_face_and_nothing_on_blank(mtcnn: MTCNNDetector) -> None:
    found = mtcnn.detect(face_scene(**MTCNN_SCENE))
    assert len(found) == 1
    assert iou(found[0].box, MTCNN_EXPECTED) > 0.5
    assert 0.9 <= found[0].score <= 1.0
    assert mtcnn.detect(np.full((240, 320, 3), 60, np.uint8)) == []
    assert mtcnn.detect(np.zeros((8, 8, 3), np.uint8)) == []


def test_mtcnn_large_min_face_size_still_finds_big_faces() -> None:
    # mtcnn 1.0 alone returns no faces at all for min_face_size > ~21 on a 640x480 frame.
    scene = face_scene(**MTCNN_SCENE)
    assert len(MTCNNDetector(min_face_size=60).detect(scene)) == 1
    assert MTCNNDetector(min_face_size=150).detect(scene) == []


def test_mtcnn_on_a_real_fer2013_face(mtcnn: MTCNNDetector, fer_scene) -> None:
    frame, box = fer_scene
    found = mtcnn.detect(frame)
    assert len(found) == 1 and iou(found[0].box, box) > 0.4


def test_mtcnn_is_thread_safe(mtcnn: MTCNNDetector) -> None:
    scenes = [face_scene(**MTCNN_SCENE), np.full((240, 320, 3), 60, np.uint8)]
    expected = [mtcnn.detect(scene) for scene in scenes]
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(mtcnn.detect, scenes * 2))
    assert got == expected * 2


def test_video_detector_shrinks_frames_and_still_finds_the_face() -> None:
    from core.detection import VIDEO_MAX_SIDE, video_detector

    detector = video_detector("haar")
    assert isinstance(detector, HaarDetector) and detector.max_side == VIDEO_MAX_SIDE == 320
    assert video_detector("haar", max_side=480).max_side == 480  # an explicit value wins
    assert video_detector("mtcnn").max_side == VIDEO_MAX_SIDE
    frame = face_scene(faces=((20, 40), (220, 140), (420, 240)))
    full = HaarDetector(max_side=None).detect(frame)
    small = detector.detect(frame)
    assert len(full) == len(small) == 3
    for a, b in zip(full, small):
        assert iou(a.box, b.box) > 0.7
    with pytest.raises(ValueError, match="unknown face detector 'yolo'; known detectors: haar, mtcnn, blazeface"):
        video_detector("yolo")


def test_video_detector_defaults_to_blazeface_short_range_and_falls_back_to_haar(monkeypatch) -> None:
    from core import litert
    from core.detection import default_video_detector, video_detector

    assert default_video_detector() == "blazeface"
    live = video_detector()
    assert isinstance(live, BlazeFaceDetector) and live.model == "short"
    assert video_detector("blazeface", model="full").model == "full"  # an explicit value wins
    assert BlazeFaceDetector().model == "full"  # photos get the full-range network

    def missing() -> None:
        raise litert.LiteRTUnavailable("ai-edge-litert is not installed")

    monkeypatch.setattr(litert, "interpreter_class", missing)
    assert default_video_detector() == "haar"
    assert isinstance(video_detector(), HaarDetector)

# --- BlazeFace -----------------------------------------------------------------------------------


def test_blazeface_anchor_grids_match_mediapipe() -> None:
    short = _ssd_anchor_centres(_BLAZEFACE_MODELS["short"])
    full = _ssd_anchor_centres(_BLAZEFACE_MODELS["full"])
    # Short range: a 16x16 grid with 2 anchors a cell, then an 8x8 grid with 6 (three stride-16 layers).
    assert short.shape == (16 * 16 * 2 + 8 * 8 * 6, 2) and full.shape == (48 * 48, 2)
    assert np.allclose(short[0], [0.5 / 16, 0.5 / 16]) and np.allclose(short[1], short[0])
    assert np.allclose(short[2], [1.5 / 16, 0.5 / 16])  # x moves fastest
    assert np.allclose(short[512], [0.5 / 8, 0.5 / 8]) and np.allclose(short[-1], [7.5 / 8, 7.5 / 8])
    assert np.allclose(full[48], [0.5 / 48, 1.5 / 48])


def test_weighted_nms_averages_overlapping_boxes_by_score() -> None:
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    merged = _weighted_nms(boxes, scores, 0.3)
    assert [round(score, 2) for _, score in merged] == [0.9, 0.7]  # best first, each keeps its best score
    assert np.allclose(merged[0][0], [0.9 * 0.1 / 1.5, 0.0, 1.0 + 0.9 * 0.1 / 1.5, 1.0])  # (0.6*a + 0.9*b) / 1.5
    assert np.allclose(merged[1][0], boxes[2])


@pytest.mark.parametrize("size", [(480, 640), (640, 480)])
def test_blazeface_full_range_finds_drawn_faces_where_they_are(size: tuple[int, int]) -> None:
    height, width = size
    spots = ((20, 40), (220, 140)) if width > height else ((20, 40), (220, 400))
    frame = face_scene(width=width, height=height, faces=spots)
    found = BlazeFaceDetector().detect(frame)
    assert len(found) == len(spots)
    for (x, y), detection in zip(spots, found):  # both sorted left to right
        # draw_face(100) at (x, y): the oval is centred at (x + 100, y + 100), 76 x 100 px.
        assert iou(detection.box, (x + 50, y + 50, 100, 100)) > 0.45, detection
        assert 0.6 <= detection.score <= 1.0


def test_blazeface_finds_nothing_in_blank_or_noisy_frames() -> None:
    rng = np.random.default_rng(0)
    for model in ("short", "full"):
        detector = BlazeFaceDetector(model=model)
        assert detector.detect(np.full((480, 640, 3), 60, np.uint8)) == []
        assert detector.detect(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []
        assert detector.detect(np.zeros((1, 1), np.uint8)) == []  # a 1x1 gray image is legal, and empty


def test_blazeface_short_range_finds_fer2013_faces_in_webcam_frames(fer_faces: list[np.ndarray]) -> None:
    from tests.e2e.helpers import face_photo

    detector = BlazeFaceDetector(model="short")
    for face in fer_faces:
        found = detector.detect(face_photo(face))  # 192 px face in the middle of a 640x480 frame
        assert len(found) == 1
        assert iou(found[0].box, (224, 144, 192, 192)) > 0.6


def test_blazeface_accepts_gray_and_bgra_and_shares_safely_between_threads() -> None:
    detector = BlazeFaceDetector()
    frame = face_scene(faces=((20, 40), (220, 140), (420, 240)))
    expected = detector.detect(frame)
    assert len(expected) == 3
    assert [d.box for d in detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA))] == [d.box for d in expected]
    assert len(detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))) == 3
    scenes = [frame, np.full((240, 320, 3), 60, np.uint8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(detector.detect, scenes * 4))
    assert got == [expected, []] * 4


def test_blazeface_option_and_file_errors(tmp_path) -> None:
    from core.errors import ModelLoadError

    with pytest.raises(ValueError, match="BlazeFace model must be one of short, full"):
        BlazeFaceDetector(model="medium")
    with pytest.raises(ValueError, match="min_score must be within 0..1"):
        BlazeFaceDetector(min_score=1.5)
    with pytest.raises(ModelLoadError, match="not found"):
        BlazeFaceDetector(model_path=tmp_path / "missing.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="corrupt"):
        BlazeFaceDetector(model_path=junk).detect(face_scene())
    # A real model of the wrong kind (the short network where the full one is expected).
    from core.detection import ASSETS_DIR

    with pytest.raises(ModelLoadError, match="not a BlazeFace 'full' model"):
        BlazeFaceDetector(model="full", model_path=ASSETS_DIR / _BLAZEFACE_MODELS["short"].file).detect(face_scene())
