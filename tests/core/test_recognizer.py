"""core.recognizer on a tiny untrained model: shapes, probabilities, batching, crops, TTA, threads."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.detection import Detection
from core.errors import ModelLoadError
from core.labels import EMOTIONS
from core.preprocess import crop_faces, prepare_crop
from core.recognizer import EmotionRecognizer, FaceResult
from tests.conftest import make_tiny_model
from tests.core.faces import face_scene

RNG = np.random.default_rng(1)


def random_faces(count: int) -> np.ndarray:
    return RNG.integers(0, 256, (count, 48, 48, 1)).astype(np.float32)


class FixedDetector:
    """A detector stub that reports the same boxes for every image."""

    name = "fixed"

    def __init__(self, boxes: list[tuple[int, int, int, int]]) -> None:
        self.boxes = boxes

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        return [Detection(box, 0.5 + i / 10) for i, box in enumerate(self.boxes)]


def test_from_dir(recognizer: EmotionRecognizer, tiny_model_dir: Path) -> None:
    assert recognizer.name == tiny_model_dir.name
    assert recognizer.labels == EMOTIONS
    assert recognizer.metadata["architecture"] == "tiny_fer"
    assert recognizer.detector().name == "yunet"  # core.pipeline.STILL_DETECTOR


def test_from_dir_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model directory not found: .*nothing-here"):
        EmotionRecognizer.from_dir(tmp_path / "nothing-here")


def test_predict_batch_probabilities(recognizer: EmotionRecognizer) -> None:
    probs = recognizer.predict_batch(random_faces(5))
    assert probs.shape == (5, 7) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert (probs >= 0).all()
    assert recognizer.predict_batch(np.zeros((0, 48, 48, 1))).shape == (0, 7)
    assert recognizer.predict_batch(random_faces(2)[..., 0]).shape == (2, 7)  # channel axis optional


def test_predict_batch_feeds_raw_pixels_to_the_model(tiny_model_dir: Path) -> None:
    from core.model_store import load_model_dir

    model, metadata = load_model_dir(tiny_model_dir)
    faces = random_faces(4)
    expected = np.asarray(model(faces, training=False))
    got = EmotionRecognizer(model, metadata).predict_batch(faces)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_predict_batch_rejects_wrong_shapes(recognizer: EmotionRecognizer) -> None:
    message = r"expected faces of shape \(N, 48, 48, 1\) with raw values 0..255, got \(2, 32, 32, 1\)"
    with pytest.raises(ValueError, match=message):
        recognizer.predict_batch(np.zeros((2, 32, 32, 1)))


def test_batch_equals_one_by_one_and_chunking(tiny_model_dir: Path, recognizer: EmotionRecognizer) -> None:
    faces = random_faces(7)
    together = recognizer.predict_batch(faces)
    singles = np.concatenate([recognizer.predict_batch(faces[i : i + 1]) for i in range(7)])
    np.testing.assert_allclose(together, singles, atol=1e-5)
    chunked = EmotionRecognizer.from_dir(tiny_model_dir, batch_size=3).predict_batch(faces)
    np.testing.assert_allclose(chunked, together, atol=1e-5)


def test_face_result_fields_and_json(recognizer: EmotionRecognizer) -> None:
    [result] = recognizer.predict_crops([np.full((60, 50, 3), 90, np.uint8)])
    assert tuple(result.probabilities) == EMOTIONS
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert result.emotion == max(result.probabilities, key=result.probabilities.get)
    assert result.confidence == result.probabilities[result.emotion]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.emotion = "happy"  # type: ignore[misc]
    hash(result)  # usable in sets despite the dict field
    data = json.loads(json.dumps(result.to_dict()))
    assert data["box"] == [0, 0, 50, 60]
    assert set(data) == {"box", "emotion", "confidence", "probabilities", "detection_score", "landmarks"}
    assert data["landmarks"] is None  # a crop given as a face has no landmarks
    assert list(data["probabilities"]) == list(EMOTIONS)
    assert sum(data["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result.to_dict(ndigits=None)["confidence"] == result.confidence


def test_predict_crops_box_is_the_whole_crop(recognizer: EmotionRecognizer) -> None:
    crops = [RNG.integers(0, 256, (48, 48), dtype=np.uint8), RNG.integers(0, 256, (90, 70, 3), dtype=np.uint8)]
    results = recognizer.predict_crops(crops)
    assert [r.box for r in results] == [(0, 0, 48, 48), (0, 0, 70, 90)]
    assert all(r.detection_score == 1.0 for r in results)
    expected = recognizer.predict_batch(np.stack([prepare_crop(c) for c in crops]))
    np.testing.assert_allclose([list(r.probabilities.values()) for r in results], expected, atol=1e-9)
    assert recognizer.predict_crops([]) == []


def test_predict_image_one_model_call_for_all_faces(recognizer: EmotionRecognizer, monkeypatch) -> None:
    image = RNG.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    boxes = [(10, 10, 50, 50), (100, 40, 60, 60), (200, 100, 80, 80)]
    calls = []
    real_run = recognizer._run
    monkeypatch.setattr(recognizer, "_run", lambda batch: calls.append(batch.shape) or real_run(batch))
    results = recognizer.predict_image(image, detector=FixedDetector(boxes))
    assert calls == [(3, 48, 48, 1)]
    assert [r.box for r in results] == boxes
    assert [r.detection_score for r in results] == pytest.approx([0.5, 0.6, 0.7])
    expected = recognizer.predict_batch(crop_faces(image, boxes, margin=0.1))
    np.testing.assert_allclose([list(r.probabilities.values()) for r in results], expected, atol=1e-9)


def test_margin_changes_the_crop(recognizer: EmotionRecognizer) -> None:
    image = RNG.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    detector = FixedDetector([(50, 50, 80, 80)])
    tight = recognizer.predict_image(image, detector=detector, margin=0.0)[0]
    loose = recognizer.predict_image(image, detector=detector, margin=0.3)[0]
    assert tight.probabilities != loose.probabilities


def test_no_face_is_an_empty_list(recognizer: EmotionRecognizer) -> None:
    blank = np.full((120, 160, 3), 60, np.uint8)
    assert recognizer.predict_image(blank) == []
    assert recognizer.predict_image(blank, detector=FixedDetector([])) == []


def test_predict_image_with_the_default_detector_on_drawn_faces(recognizer: EmotionRecognizer) -> None:
    results = recognizer.predict_image(face_scene(width=700, faces=((20, 100), (450, 100))))
    assert len(results) == 2
    assert results[0].box[0] < results[1].box[0]
    assert all(isinstance(r, FaceResult) and r.emotion in EMOTIONS for r in results)


def test_named_detectors_are_built_once(recognizer: EmotionRecognizer) -> None:
    assert recognizer.detector("haar") is recognizer.detector("haar")
    assert recognizer.detector("mtcnn").name == "mtcnn"  # built lazily; nothing runs here


def test_tta_averages_with_the_mirror(tiny_model_dir: Path, recognizer: EmotionRecognizer) -> None:
    tta = EmotionRecognizer.from_dir(tiny_model_dir, tta=True)
    faces = random_faces(3)
    plain = recognizer.predict_batch(faces)
    mirrored = recognizer.predict_batch(faces[:, :, ::-1, :])
    np.testing.assert_allclose(tta.predict_batch(faces), (plain + mirrored) / 2, atol=1e-5)
    symmetric = np.concatenate([faces[:, :, :24], faces[:, :, :24][:, :, ::-1]], axis=2)
    np.testing.assert_allclose(tta.predict_batch(symmetric), recognizer.predict_batch(symmetric), atol=1e-5)


def test_thread_safe_results_match_single_threaded(recognizer: EmotionRecognizer) -> None:
    batches = [random_faces(n) for n in (1, 3, 5, 2)]
    expected = [recognizer.predict_batch(b) for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(recognizer.predict_batch, batches * 4))
    for have, want in zip(got, expected * 4):
        np.testing.assert_allclose(have, want, atol=1e-6)
    scene = face_scene(faces=((200, 100),))
    single = recognizer.predict_image(scene)
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(recognizer.predict_image, [scene] * 6)) == [single] * 6


# --- construction errors ----------------------------------------------------------------------


def test_wrong_input_shape_is_refused() -> None:
    import keras

    inputs = keras.Input((32, 32, 1))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ModelLoadError, match=r"expected \(None, 48, 48, 1\) and \(None, 7\)"):
        EmotionRecognizer(model)


def test_logits_model_is_refused() -> None:
    import keras

    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, keras.layers.Dense(7, bias_initializer="ones")(keras.layers.Flatten()(inputs)))
    message = r"does not output softmax probabilities.*Dense\(7, activation='softmax'\)"
    with pytest.raises(ModelLoadError, match=message):
        EmotionRecognizer(model)


def test_label_mismatch_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="do not match the FER2013 classes"):
        EmotionRecognizer(make_tiny_model(), {"labels": list(reversed(EMOTIONS))})


def test_bad_options() -> None:
    model = make_tiny_model()
    with pytest.raises(ValueError, match="unknown face detector 'dlib'; known detectors: haar, mtcnn"):
        EmotionRecognizer(model, detector="dlib")
    with pytest.raises(ValueError, match="margin must be >= 0"):
        EmotionRecognizer(model, margin=-0.5)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        EmotionRecognizer(model, batch_size=0)


def test_other_backends_fall_back_to_a_locked_predict_on_batch(tiny_model_dir: Path, monkeypatch) -> None:
    import keras

    from core.model_store import load_model_dir

    model, metadata = load_model_dir(tiny_model_dir)
    faces = random_faces(3)
    expected = EmotionRecognizer(model, metadata).predict_batch(faces)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    fallback = EmotionRecognizer(model, metadata)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(fallback.predict_batch, [faces] * 3))
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_tencrop_tta_on_a_flat_face_equals_no_tta(tiny_model_dir: Path, recognizer: EmotionRecognizer) -> None:
    # Every view of a flat face is the same face, so averaging ten views changes nothing.
    flat = np.full((2, 48, 48, 1), 120.0, np.float32)
    ten = EmotionRecognizer.from_dir(tiny_model_dir, tta="tencrop")
    np.testing.assert_allclose(ten.predict_batch(flat), recognizer.predict_batch(flat), atol=1e-5)
    assert ten.tta == "tencrop"


def test_tta_can_be_chosen_per_call(tiny_model_dir: Path, recognizer: EmotionRecognizer) -> None:
    rng = np.random.default_rng(3)
    faces = rng.integers(0, 256, (3, 48, 48, 1)).astype(np.float32)
    always_flip = EmotionRecognizer.from_dir(tiny_model_dir, tta="flip")
    np.testing.assert_allclose(recognizer.predict_batch(faces, tta="flip"), always_flip.predict_batch(faces), atol=1e-6)
    np.testing.assert_allclose(always_flip.predict_batch(faces, tta="none"), recognizer.predict_batch(faces), atol=1e-6)
    assert recognizer.tta == "none"  # a per-call choice does not change the shared recognizer
    crops = [face[:, :, 0].astype(np.uint8) for face in faces]
    per_call = recognizer.predict_crops(crops, tta="tencrop")
    ten = EmotionRecognizer.from_dir(tiny_model_dir, tta="tencrop").predict_crops(crops)
    for a, b in zip(per_call, ten):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
