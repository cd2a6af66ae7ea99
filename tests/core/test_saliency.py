"""Occlusion saliency (core.saliency): geometry, TTA, both backends, and maps that are honest.

Honest means two things, each tested on a model trained here in a few seconds: on synthetic faces
whose class is decided by the mouth alone (brows, eyes and a forehead spot vary as distractors), the
map's peak lies on the mouth; and, the sanity check of Adebayo et al. (2018), the map of the same
model with its weights randomised is unrelated to the trained one (Spearman rank correlation < 0.3).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.labels import EMOTIONS
from core.preprocess import crop_faces, crop_transform, tta_maps_to_face, tta_views
from core.saliency import (
    FaceSaliency,
    explain_crops,
    explain_faces,
    explanation_panel,
    face_square,
    occlusion_masks,
    overlay_crop,
    overlay_face,
    overlay_image,
)
from tests.core.faces import REPO, face_scene

HAPPY, SAD, NEUTRAL = EMOTIONS.index("happy"), EMOTIONS.index("sad"), EMOTIONS.index("neutral")
REGION = (slice(30, 38), slice(10, 18))  # what the fake model looks at: rows 30-37, columns 10-17


class RegionModel:
    """A fake recognizer: P(happy) is the mean brightness of :data:`REGION` (0..1), P(neutral) the rest."""

    tta = "none"
    backend = "fake"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_batch(self, faces: np.ndarray, *, tta: str | None = None) -> np.ndarray:
        assert tta == "none", "saliency must classify each view itself"
        faces = np.asarray(faces, dtype=np.float64)
        self.calls.append(len(faces))
        happy = faces[:, REGION[0], REGION[1], 0].mean(axis=(1, 2)) / 255
        probs = np.zeros((len(faces), 7))
        probs[:, HAPPY], probs[:, NEUTRAL] = happy, 1 - happy
        return probs


def region_face() -> np.ndarray:
    """A dark 48x48 face with a bright square on :data:`REGION`, as model input."""
    face = np.full((48, 48, 1), 30.0, np.float32)
    face[REGION[0], REGION[1]] = 230.0
    return face


def test_occlusion_masks_hide_every_pixel_with_8px_squares_at_4px() -> None:
    masks = occlusion_masks()
    assert masks.shape == (121, 48, 48)
    assert set(masks.sum(axis=(1, 2)).tolist()) == {64}
    coverage = masks.sum(axis=0)
    assert coverage.min() == 1 and coverage[4:44, 4:44].min() == 4  # corners once, the inside four times
    assert occlusion_masks(patch=10, stride=4).sum(axis=0).min() >= 1  # the last square sits flush with the edge
    with pytest.raises(ValueError, match="stride must be 1 to the patch size"):
        occlusion_masks(patch=4, stride=8)
    with pytest.raises(ValueError, match="patch must be 1 to 48"):
        occlusion_masks(patch=0)


def test_the_map_lies_on_the_region_the_model_reads_and_the_batch_is_one_call_per_view() -> None:
    model = RegionModel()
    (result,) = explain_crops(model, region_face()[None])
    assert result.emotion == "happy" and result.probability == pytest.approx(230 / 255)
    assert result.heat.shape == (48, 48) and result.heat.dtype == np.float32
    row, column = result.peak
    assert 30 <= row < 38 and 10 <= column < 18
    assert abs(result.heat[:, 30:]).max() < 1e-6  # the model never reads there: no credit
    assert model.calls == [122]  # the face plus 121 hidden squares, in one batch
    assert result.crop.dtype == np.uint8 and result.crop[33, 12] == 230
    assert not result.heat.flags.writeable


def test_another_emotion_on_request_and_unknown_names_listed() -> None:
    model = RegionModel()
    happy = explain_crops(model, region_face()[None])[0]
    (neutral,) = explain_crops(model, region_face()[None], emotion="Neutral")
    assert neutral.emotion == "neutral"
    np.testing.assert_allclose(neutral.heat, -happy.heat, atol=1e-6)  # P(neutral) = 1 - P(happy)
    with pytest.raises(ValueError, match="unknown emotion 'joy'; expected one of angry, disgust, fear, happy"):
        explain_crops(model, region_face()[None], emotion="joy")


def test_flip_tta_averages_each_views_map_with_the_mirror_flipped_back() -> None:
    model = RegionModel()
    face = region_face()
    face[30:38, 30:38] = 230.0  # the region's mirror is bright too: the mirrored view reads it
    flipped = explain_crops(model, face[None], tta="flip")[0]
    plain = explain_crops(model, face[None])[0].heat
    mirror_view = explain_crops(model, face[None, :, ::-1])[0].heat  # the map of the mirrored face, in its own frame
    np.testing.assert_allclose(flipped.heat, (plain + mirror_view[:, ::-1]) / 2, atol=1e-4)
    assert flipped.tta == "flip" and model.calls[0] == 244
    # The mirrored view reads the mirror of the region, so its credit lands there, flipped back onto the face.
    assert flipped.heat[33, 33] > 0.8 * flipped.heat.max() and flipped.heat[33, 13] > 0.8 * flipped.heat.max()
    assert plain[33, 33] < 0.01 * plain.max()  # which the face's own view never reads


def test_ten_crop_maps_go_back_onto_the_squares_their_views_show() -> None:
    back = tta_maps_to_face(np.ones((10, 48, 48), np.float32), "tencrop")
    total = back.sum(axis=0)
    assert total[24, 24] == pytest.approx(10)  # the centre is in every view
    assert total[0, 0] == pytest.approx(2) and total[47, 47] == pytest.approx(2)  # a corner: its crop and mirror
    views = tta_views(region_face()[None], "tencrop")[:, 0, :, :, 0]
    # A view's own pixels, mapped back, land where they came from (a smooth face, so resampling agrees).
    smooth = cv2.GaussianBlur(region_face()[:, :, 0], (0, 0), 3)
    views = tta_views(smooth[None, :, :, None], "tencrop")[:, 0, :, :, 0]
    mapped = tta_maps_to_face(views, "tencrop")
    for v in (0, 3, 7):
        inside = mapped[v] > 0
        assert np.abs(mapped[v][inside] - smooth[inside]).mean() < 3
    with pytest.raises(ValueError, match="expected 2 square maps for TTA 'flip'"):
        tta_maps_to_face(np.ones((3, 48, 48)), "flip")


@pytest.mark.parametrize("aligned", [True, False])
def test_crop_transform_maps_crop_pixels_to_the_image_pixels_they_came_from(aligned: bool) -> None:
    height, width = 300, 400
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.clip(0.4 * (xs + 0.5) + 0.3 * (ys + 0.5), 0, 255).astype(np.uint8)  # a linear ramp
    box = (150, 90, 80, 100)
    points = [(172, 125), (208, 131), (190, 150), (176, 168), (204, 172)] if aligned else None
    crop = crop_faces(image, [box], landmarks=[points])[0, :, :, 0]
    transform = crop_transform(box, image.shape, landmarks=points)
    for row, column in ((5, 5), (24, 24), (40, 10), (10, 42)):
        x, y = transform @ np.array([column + 0.5, row + 0.5, 1.0])
        assert crop[row, column] == pytest.approx(0.4 * x + 0.3 * y, abs=1.5)
    if not aligned:
        # The box squared to 100 px around its centre, then 10 px of margin on every side: 120 px from (130, 80).
        np.testing.assert_allclose(transform, [[120 / 48, 0, 130], [0, 120 / 48, 80]])


def test_overlays_colour_the_face_where_the_map_peaks() -> None:
    heat = np.zeros((48, 48), np.float32)
    heat[36:44, 20:28] = 0.5
    crop = np.full((48, 48), 128, np.uint8)
    saliency = FaceSaliency("happy", 0.9, heat, crop, "none", 8, 4, np.array([[2.0, 0, 100], [0, 2.0, 50]]))
    picture = overlay_crop(saliency, size=96)
    assert picture.shape == (96, 96, 3)
    assert np.abs(picture[80, 48].astype(int) - 128).max() > 40 and np.all(picture[10, 10] == 128)
    image = np.full((300, 300, 3), 128, np.uint8)
    drawn = overlay_image(image, [saliency])
    changed = np.argwhere(np.abs(drawn.astype(int) - 128).max(axis=2) > 40)
    # Crop rows 36-43 and columns 20-27 are image rows 122-138 and columns 140-156.
    assert changed[:, 0].min() >= 120 and changed[:, 0].max() <= 140
    assert changed[:, 1].min() >= 138 and changed[:, 1].max() <= 158
    # The face's own part of the photo: the crop square (image 100-196) grown by a quarter of its side.
    assert face_square(saliency, image.shape) == (76, 26, 144, 144)
    np.testing.assert_array_equal(overlay_face(image, saliency), drawn[26:170, 76:220])
    with pytest.raises(ValueError, match="no place in a photo"):
        face_square(dataclasses.replace(saliency, to_image=None), image.shape)
    panel = explanation_panel(saliency, size=96)
    assert panel.shape[1] == 2 * 96 + 4 and panel.shape[0] > 96
    with_photo = explanation_panel(saliency, image, size=96)  # the face's part of the photo is square: 96 px wide
    assert with_photo.shape[1] == 3 * 96 + 8
    np.testing.assert_array_equal(with_photo[:96, :196], panel[:96])


def test_explain_faces_crops_as_the_recognizer_did_and_says_where(recognizer) -> None:  # noqa: ANN001
    image = face_scene()
    faces = recognizer.predict_image(image, detector="yunet")
    assert len(faces) == 1
    (saliency,) = explain_faces(recognizer, image, faces)
    assert saliency.emotion == faces[0].emotion
    assert saliency.probability == pytest.approx(faces[0].confidence, abs=1e-5)
    x, y = saliency.to_image @ np.array([24.0, 24.0, 1.0])
    bx, by, bw, bh = faces[0].box
    assert bx < x < bx + bw and by < y < by + bh  # the crop's centre is on the face
    assert explain_faces(recognizer, image, []) == []


def test_litert_and_keras_give_the_same_map_and_litert_needs_no_tensorflow(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from core.recognizer import EmotionRecognizer
        from core.saliency import explain_faces
        from tests.core.faces import face_scene
        recognizer = EmotionRecognizer.from_dir({str(tiny_model_dir)!r}, backend="litert", tta="flip")
        image = face_scene()
        faces = recognizer.predict_image(image)
        (saliency,) = explain_faces(recognizer, image, faces)
        np.save(sys.argv[1], saliency.heat)
        heavy = sorted(name for name in ("tensorflow", "keras", "tf_keras") if name in sys.modules)
        print(recognizer.backend, saliency.emotion, heavy)
        """
    )
    out = tmp_path / "litert_heat.npy"
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    backend, emotion, heavy = done.stdout.strip().splitlines()[-1].split(" ", 2)
    assert (backend, heavy) == ("litert", "[]")
    from scipy.stats import spearmanr  # noqa: PLC0415

    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    keras_recognizer = EmotionRecognizer.from_dir(tiny_model_dir, backend="keras", tta="flip")
    image = face_scene()
    (keras_map,) = explain_faces(keras_recognizer, image, keras_recognizer.predict_image(image))
    assert keras_map.emotion == emotion
    assert spearmanr(np.load(out).ravel(), keras_map.heat.ravel()).statistic > 0.9  # int8 weights, same map


# Honest maps ---------------------------------------------------------------------------------------

MOUTH = (slice(29, 43), slice(12, 36))  # rows 29-42, columns 12-35: the only region that decides the class


def synthetic_faces(count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cartoon 48x48 faces: a smile is happy, a frown sad; brows, eyes, a forehead spot, light and noise vary freely."""
    rng = np.random.default_rng(seed)
    faces = np.empty((count, 48, 48, 1), np.float32)
    labels = rng.integers(0, 2, count)
    for i, sad in enumerate(labels):
        img = np.full((48, 48), rng.uniform(20, 70), np.float32)
        cv2.ellipse(img, (24, 24), (17, 22), 0, 0, 360, float(rng.uniform(140, 200)), -1)
        ink = float(rng.uniform(10, 60))
        for side in (-1, 1):
            cv2.circle(img, (24 + side * 7, 19), int(rng.integers(1, 4)), ink, -1)
            tilt = int(rng.integers(-3, 4))  # brows up or down: a distractor, unrelated to the class
            cv2.line(img, (24 + side * 4, 13 + tilt * (side > 0)), (24 + side * 11, 13 + tilt * (side < 0)), ink, 1)
        if rng.random() < 0.5:
            cv2.circle(img, (int(rng.integers(16, 33)), 8), 3, float(rng.uniform(0, 255)), -1)
        if sad:
            cv2.ellipse(img, (24, 39), (8, 5), 0, 180, 360, ink, 2)  # a frown: an arch
        else:
            cv2.ellipse(img, (24, 32), (8, 5), 0, 0, 180, ink, 2)  # a smile: a bowl
        img += rng.normal(0, 6, img.shape)
        faces[i, :, :, 0] = np.clip(img, 0, 255)
    return faces, np.where(labels == 1, SAD, HAPPY)


@pytest.fixture(scope="module")
def mouth_models():  # noqa: ANN201 - (trained recognizer, randomised recognizer, test faces)
    import keras  # noqa: PLC0415

    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    keras.utils.set_random_seed(0)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 5, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_train, y_train = synthetic_faces(600, seed=1)
    model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    x_test, y_test = synthetic_faces(12, seed=2)
    accuracy = float((model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean())
    assert accuracy == 1.0, f"the tiny model did not learn the task ({accuracy:.0%}); the map tests would mean nothing"
    randomised = keras.models.clone_model(model)  # same architecture, freshly initialised weights
    return EmotionRecognizer(model), EmotionRecognizer(randomised), x_test


def test_the_peak_lies_in_the_region_that_decides_the_class(mouth_models) -> None:  # noqa: ANN001
    trained, _, faces = mouth_models
    for saliency in explain_crops(trained, faces, tta="flip"):
        row, column = saliency.peak
        assert MOUTH[0].start <= row < MOUTH[0].stop and MOUTH[1].start <= column < MOUTH[1].stop, saliency.peak
        mouth_share = np.clip(saliency.heat, 0, None)[MOUTH].sum() / np.clip(saliency.heat, 0, None).sum()
        assert mouth_share > 0.5


def test_randomised_weights_give_an_unrelated_map(mouth_models) -> None:  # noqa: ANN001
    from scipy.stats import spearmanr  # noqa: PLC0415

    trained, randomised, faces = mouth_models
    correlations = []
    for face, good in zip(faces, explain_crops(trained, faces)):
        (bad,) = explain_crops(randomised, face[None], emotion=good.emotion)  # the same emotion, explained again
        correlations.append(spearmanr(good.heat.ravel(), bad.heat.ravel()).statistic)
    assert np.mean(correlations) < 0.3, np.round(correlations, 2)
