"""core.detection: registry, Haar and MTCNN on drawn faces, options, clipping and threads."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from core.detection import (
    DETECTORS,
    Detection,
    FaceDetector,
    HaarDetector,
    MTCNNDetector,
    _finish,
    _mtcnn_safe_min_face_size,
    get_detector,
)
from tests.core.faces import REPO, face_scene, iou

# draw_face(100) pasted at (200, 100): the oval spans about x 262..338, y 150..250.
FACE_AT = (200, 100)
EXPECTED = (250, 140, 100, 100)


def test_registry_names_and_unknown_name_message() -> None:
    assert tuple(DETECTORS) == ("haar", "mtcnn")
    with pytest.raises(ValueError, match=r"^unknown face detector 'yolo'; known detectors: haar, mtcnn$"):
        get_detector("yolo")
    assert isinstance(get_detector("HAAR"), HaarDetector)
    assert isinstance(get_detector("mtcnn", min_face_size=40), MTCNNDetector)


def test_detectors_follow_the_protocol() -> None:
    assert isinstance(HaarDetector(), FaceDetector)
    assert isinstance(MTCNNDetector(), FaceDetector)
    assert HaarDetector.name == "haar" and MTCNNDetector.name == "mtcnn"


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

    detector = video_detector()
    assert isinstance(detector, HaarDetector) and detector.max_side == VIDEO_MAX_SIDE == 320
    assert video_detector("haar", max_side=480).max_side == 480  # an explicit value wins
    assert video_detector("mtcnn").max_side == VIDEO_MAX_SIDE
    frame = face_scene(faces=((20, 40), (220, 140), (420, 240)))
    full = HaarDetector(max_side=None).detect(frame)
    small = detector.detect(frame)
    assert len(full) == len(small) == 3
    for a, b in zip(full, small):
        assert iou(a.box, b.box) > 0.7
    with pytest.raises(ValueError, match="unknown face detector 'yolo'; known detectors: haar, mtcnn"):
        video_detector("yolo")
