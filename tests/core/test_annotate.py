"""core.annotate: drawing on a copy, colours, labels inside the image, scaling with image size."""

from __future__ import annotations

import numpy as np
import pytest

from core.annotate import EMOTION_COLORS, annotate, emotion_color_rgb
from core.labels import EMOTIONS
from core.recognizer import FaceResult


def face(box, emotion="happy", confidence=0.9) -> FaceResult:
    return FaceResult(box, 1.0, emotion, confidence, {name: 0.0 for name in EMOTIONS})


def test_colours_cover_every_emotion_and_differ() -> None:
    assert set(EMOTION_COLORS) == set(EMOTIONS)
    assert len(set(EMOTION_COLORS.values())) == len(EMOTIONS)
    b, g, r = EMOTION_COLORS["happy"]
    assert emotion_color_rgb("happy") == (r, g, b)


def test_returns_a_new_image_and_never_mutates_the_input() -> None:
    image = np.full((120, 160, 3), 50, np.uint8)
    before = image.copy()
    out = annotate(image, [face((40, 40, 50, 50))])
    np.testing.assert_array_equal(image, before)
    assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert (out != image).any()
    untouched = annotate(image, [])
    assert untouched is not image
    np.testing.assert_array_equal(untouched, image)


def test_box_drawn_in_the_emotion_colour() -> None:
    image = np.full((200, 200, 3), 50, np.uint8)
    out = annotate(image, [face((60, 80, 80, 80), "sad")])
    # Middle of the left edge of the box, away from the label.
    assert tuple(out[120, 60]) == EMOTION_COLORS["sad"]


def colour_mask(image: np.ndarray, emotion: str) -> np.ndarray:
    return (image == np.array(EMOTION_COLORS[emotion], np.uint8)).all(axis=2)


def test_label_goes_above_the_box_when_there_is_room() -> None:
    out = annotate(np.zeros((200, 200, 3), np.uint8), [face((50, 100, 60, 60), "surprise", 0.42)])
    rows = np.flatnonzero(colour_mask(out, "surprise").any(axis=1))
    assert rows.min() < 100  # label band above the box top


def test_label_moves_inside_at_the_top_edge() -> None:
    out = annotate(np.zeros((200, 200, 3), np.uint8), [face((0, 0, 60, 60), "surprise", 0.42)])
    assert colour_mask(out, "surprise")[0:3, 0:40].any()


def test_label_is_shifted_left_at_the_right_edge() -> None:
    out = annotate(np.zeros((200, 200, 3), np.uint8), [face((175, 100, 25, 25), "surprise", 0.42)])
    label_cols = np.flatnonzero(colour_mask(out, "surprise")[: 100].any(axis=0))
    assert label_cols.min() < 150 and label_cols.max() == 199  # whole label drawn, ending at the edge


def test_tiny_crop_still_gets_a_label() -> None:
    image = np.full((48, 48, 3), 80, np.uint8)
    out = annotate(image, [face((0, 0, 48, 48), "surprise", 0.5)])
    assert (out[:12] != 80).any(axis=2).mean() > 0.3  # a label band across the top


@pytest.mark.parametrize("side", [200, 800, 2400, 4000])
def test_label_is_readable_at_any_image_size(side: int) -> None:
    image = np.zeros((side, side, 3), np.uint8)
    box = (side // 4, side // 2, side // 2, side // 4)
    rows = np.flatnonzero(colour_mask(annotate(image, [face(box)]), "happy")[: side // 2].any(axis=1))
    label_height = rows.max() - rows.min() + 1
    assert label_height >= 12  # readable at full size
    assert label_height * 800 / side >= 10  # and when the picture is shown 800 pixels wide


def test_gray_input_gives_bgr_output() -> None:
    out = annotate(np.full((100, 100), 30, np.uint8), [face((10, 10, 50, 50), "angry")])
    assert out.shape == (100, 100, 3)


def test_landmarks_drawn_only_when_asked() -> None:
    image = np.full((200, 200, 3), 50, np.uint8)
    probabilities = {name: 0.0 for name in EMOTIONS}
    marked = FaceResult((40, 40, 120, 120), 0.9, "happy", 0.9, probabilities, ((70.0, 90.0), (130.0, 90.0)))
    plain = annotate(image, [marked])
    dots = annotate(image, [marked], show_landmarks=True)
    assert (plain[90, 70] == 50).all() and (plain[90, 130] == 50).all()
    assert tuple(dots[90, 70]) == EMOTION_COLORS["happy"] and tuple(dots[90, 130]) == EMOTION_COLORS["happy"]
    # Results without landmarks (Haar's) draw as before.
    haar_like = [face((40, 40, 120, 120))]
    np.testing.assert_array_equal(annotate(image, haar_like, show_landmarks=True), annotate(image, haar_like))


def test_label_rect_goes_above_then_below_then_inside() -> None:
    from core.annotate import label_rect

    size, box, label = (300, 300), (100, 100, 60, 60), (50, 20)
    assert label_rect(size, box, label) == ((100, 80, 50, 20), 0)
    above = (90, 75, 80, 25)
    assert label_rect(size, box, label, avoid=[above]) == ((100, 160, 50, 20), 0)
    below = (90, 160, 80, 25)
    assert label_rect(size, box, label, avoid=[above, below]) == ((100, 100, 50, 20), 0)
    inside = (100, 100, 10, 10)
    rect, covered = label_rect(size, box, label, avoid=[above, below, inside])
    assert covered == 100 and rect == (100, 100, 50, 20)  # the least covered place
    # Among free places, the one that hides less of another face.
    face_above = (100, 70, 60, 20)
    assert label_rect(size, box, label, faces=[face_above]) == ((100, 160, 50, 20), 0)


def test_crowded_faces_get_labels_that_do_not_cover_each_other() -> None:
    image = np.zeros((300, 300, 3), np.uint8)
    out = annotate(image, [face((40, 100, 60, 60), "happy"), face((60, 112, 60, 60), "sad")], numbered=True)
    sad = colour_mask(out, "sad")
    assert not sad[:112].any()  # the second label is not above its box, where the first one is
    assert sad[172:].any()  # it went below
    happy_rows = np.flatnonzero(colour_mask(out, "happy").any(axis=1))
    assert happy_rows.min() < 100  # the first label kept its place above


def test_numbers_draw_given_ids_and_must_match_the_faces() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    faces = [face((40, 80, 60, 60), "happy"), face((180, 80, 60, 60), "sad")]
    numbered = annotate(image, faces, numbered=True)
    assert np.array_equal(annotate(image, faces, numbers=[1, 2]), numbered)  # numbered is numbers 1, 2, ...
    assert not np.array_equal(annotate(image, faces, numbers=[3, 7]), numbered)
    with pytest.raises(ValueError, match="got 1 numbers for 2 faces; give one number per face"):
        annotate(image, faces, numbers=[1])
