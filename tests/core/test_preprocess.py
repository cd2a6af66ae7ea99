"""core.preprocess: boxes, crops, and that a crop matches what the model saw in training."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import InvalidImageError
from core.preprocess import check_image, clip_box, crop_faces, expand_box, prepare_crop, to_bgr, to_gray


def gradient(height: int, width: int) -> np.ndarray:
    """A BGR image whose gray value differs at every pixel position."""
    y, x = np.mgrid[0:height, 0:width]
    gray = ((x * 3 + y * 5) % 256).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize(
    ("box", "margin", "square", "expected"),
    [
        ((10, 10, 20, 20), 0.1, False, (8, 8, 24, 24)),
        ((10, 10, 20, 20), 0.0, False, (10, 10, 20, 20)),
        ((0, 0, 20, 20), 0.5, False, (0, 0, 30, 30)),  # clipped at the top-left corner
        ((90, 80, 20, 20), 0.25, False, (85, 75, 15, 25)),  # clipped at the right edge (width 100)
        ((10, 10, 20, 40), 0.0, True, (0, 10, 40, 40)),  # squared around the centre
        ((40, 10, 20, 10), 0.0, True, (40, 5, 20, 20)),
    ],
)
def test_expand_box(box, margin, square, expected) -> None:
    assert expand_box(box, margin, (100, 100, 3), square=square) == expected


def test_expand_box_errors() -> None:
    with pytest.raises(ValueError, match="margin must be >= 0"):
        expand_box((0, 0, 10, 10), -0.1, (50, 50))
    with pytest.raises(ValueError, match="has no area"):
        expand_box((0, 0, 0, 10), 0.1, (50, 50))
    with pytest.raises(ValueError, match="outside the 50x40 image"):
        expand_box((60, 60, 10, 10), 0.1, (40, 50))


def test_clip_box() -> None:
    assert clip_box((-5, -5, 20, 20), (10, 10)) == (0, 0, 10, 10)
    assert clip_box((20, 20, 5, 5), (10, 10)) is None
    assert clip_box((float("-inf"), 0, float("inf"), 5), (10, 10)) is None
    assert clip_box((0, 0, float("nan"), 5), (10, 10)) is None


def test_crop_is_raw_gray_float32_without_normalisation() -> None:
    image = gradient(48, 48)
    crops = crop_faces(image, [(0, 0, 48, 48)], margin=0.0)
    assert crops.shape == (1, 48, 48, 1) and crops.dtype == np.float32
    np.testing.assert_array_equal(crops[0, :, :, 0], cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32))
    assert crops.max() > 200  # raw 0..255, not 0..1


def test_fer2013_face_passes_through_unchanged(fer_faces: list[np.ndarray]) -> None:
    # Training feeds FER2013 48x48 uint8 faces raw to the model: a 48x48 gray crop must be identical.
    face = fer_faces[0]
    np.testing.assert_array_equal(prepare_crop(face)[:, :, 0], face.astype(np.float32))
    bgr = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(crop_faces(bgr, [(0, 0, 48, 48)], margin=0.0)[0, :, :, 0], face.astype(np.float32))


def test_bgr_to_gray_uses_opencv_bgr_weights() -> None:
    blue = np.zeros((60, 60, 3), np.uint8)
    blue[..., 0] = 255
    red = np.zeros((60, 60, 3), np.uint8)
    red[..., 2] = 255
    assert crop_faces(blue, [(0, 0, 60, 60)], margin=0)[0, 0, 0, 0] == 29
    assert crop_faces(red, [(0, 0, 60, 60)], margin=0)[0, 0, 0, 0] == 76


def test_resize_uses_inter_area() -> None:
    image = gradient(200, 200)
    box = (20, 30, 96, 96)
    region = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[30:126, 20:116]
    expected = cv2.resize(region, (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(crop_faces(image, [box], margin=0)[0, :, :, 0], expected.astype(np.float32))


def test_crop_margin_and_square_for_tall_boxes() -> None:
    image = gradient(200, 200)
    tall = (80, 40, 40, 80)
    got = crop_faces(image, [tall], margin=0.1)[0, :, :, 0]
    x, y, w, h = expand_box(tall, 0.1, image.shape, square=True)
    assert (w, h) == (96, 96)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    expected = cv2.resize(gray[y : y + h, x : x + w], (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_several_and_no_boxes() -> None:
    image = gradient(100, 100)
    assert crop_faces(image, [(0, 0, 30, 30), (50, 50, 40, 40)]).shape == (2, 48, 48, 1)
    empty = crop_faces(image, [])
    assert empty.shape == (0, 48, 48, 1) and empty.dtype == np.float32


@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 1), (30, 40, 3), (30, 40, 4)])
def test_prepare_crop_accepts_gray_bgr_bgra(shape) -> None:
    crop = np.full(shape, 77, np.uint8)
    out = prepare_crop(crop)
    assert out.shape == (48, 48, 1) and out.dtype == np.float32
    assert to_bgr(crop).shape == (30, 40, 3) and to_gray(crop).shape == (30, 40)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 2), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        np.zeros(5, np.uint8),
    ],
)
def test_check_image_rejects(bad) -> None:
    with pytest.raises(InvalidImageError, match="expected a uint8 image|is empty"):
        check_image(bad)


def test_check_image_rejects_non_arrays() -> None:
    with pytest.raises(InvalidImageError, match="numpy array"):
        check_image([[1, 2], [3, 4]])  # type: ignore[arg-type]


def test_crop_does_not_modify_input() -> None:
    image = gradient(80, 80)
    before = image.copy()
    crop_faces(image, [(10, 10, 40, 40)])
    np.testing.assert_array_equal(image, before)


def test_tta_views_counts_and_geometry() -> None:
    from core.preprocess import tta_mode, tta_views

    faces = np.zeros((3, 48, 48, 1), np.float32)
    faces[:, :, :24] = 200.0  # left half bright
    assert tta_views(faces, "none").shape == (1, 3, 48, 48, 1)
    flip = tta_views(faces, "flip")
    assert flip.shape == (2, 3, 48, 48, 1)
    assert flip[1, 0, 0, -1, 0] == 200.0 and flip[1, 0, 0, 0, 0] == 0.0  # mirrored
    ten = tta_views(faces, "tencrop")
    assert ten.shape == (10, 3, 48, 48, 1)
    # The top-left crop keeps the bright left edge; its mirror has it on the right.
    assert ten[0, 0, 10, 0, 0] == 200.0 and ten[5, 0, 10, -1, 0] == 200.0
    assert tta_mode(True) == "flip" and tta_mode(False) == "none" and tta_mode("TenCrop") == "tencrop"
    with pytest.raises(ValueError, match="expected one of none, flip, tencrop"):
        tta_mode("rotate")
