"""Eye-levelled, FER2013-framed crops from landmarks: hand-computed squares, rotations, crop_faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from core.preprocess import FER_FRAMING, FaceFraming, aligned_crop, crop_faces, framing_square

EYES_ONLY = FaceFraming(eye_scale=1.0, mouth_scale=0.0, dx=0.0, dy=0.0)
# Eyes 20 px apart at y=20, mouth corners 20 px below the eye midpoint.
LEVEL = [(10.0, 20.0), (30.0, 20.0), (20.0, 30.0), (15.0, 40.0), (25.0, 40.0)]


def test_square_of_level_eyes_by_hand() -> None:
    assert framing_square(LEVEL, EYES_ONLY) == pytest.approx((20.0, 20.0, 20.0, 1.0, 0.0))
    # side = 1 * 20 + 1 * 20; centre 0.25 sides (10 px) below and 0.1 sides (4 px) right of the eye midpoint.
    assert framing_square(LEVEL, FaceFraming(1.0, 1.0, 0.1, 0.25)) == pytest.approx((24.0, 30.0, 40.0, 1.0, 0.0))


def test_square_of_a_face_turned_90_degrees() -> None:
    # Head lying on its side: the left eye straight below the right one; "below the eyes" is then -x.
    turned = [(20.0, 10.0), (20.0, 30.0), (10.0, 20.0), (0.0, 15.0), (0.0, 25.0)]
    cx, cy, side, cos, sin = framing_square(turned, FaceFraming(1.0, 1.0, 0.0, 0.25))
    assert (cx, cy, side, cos, sin) == pytest.approx((10.0, 20.0, 40.0, 0.0, 1.0))


def test_bad_landmarks() -> None:
    with pytest.raises(ValueError, match="need the 5 landmarks"):
        framing_square(LEVEL[:2], FER_FRAMING)
    with pytest.raises(ValueError, match="the two eye landmarks coincide"):
        framing_square([(5.0, 5.0)] * 5, FER_FRAMING)
    assert framing_square(LEVEL[:2], EYES_ONLY)[2] == pytest.approx(20.0)  # eyes suffice without mouth_scale


def test_crop_samples_exactly_the_square() -> None:
    ramp = np.tile(np.arange(64, dtype=np.uint8), (64, 1))  # value = x
    crop = aligned_crop(ramp, LEVEL, framing=EYES_ONLY, size=20)
    assert crop.shape == (20, 20, 1) and crop.dtype == np.float32
    np.testing.assert_allclose(crop[0, :, 0], np.arange(10, 30))
    column = aligned_crop(ramp.T.copy(), LEVEL, framing=EYES_ONLY, size=20)[:, 0, 0]
    np.testing.assert_allclose(column, np.arange(10, 30))


def _pattern() -> np.ndarray:
    """A 200x200 gray image that is not symmetric under any rotation: a bright block up left, bars."""
    img = np.full((200, 200), 50, np.uint8)
    cv2.rectangle(img, (60, 60), (95, 90), 230, -1)
    cv2.rectangle(img, (110, 120), (150, 130), 150, -1)
    cv2.circle(img, (130, 75), 8, 255, -1)
    return cv2.GaussianBlur(img, (0, 0), 2.0)


@pytest.mark.parametrize("degrees", [-30.0, 15.0, 90.0])
def test_levelling_undoes_a_rotation(degrees: float) -> None:
    image = _pattern()
    points = np.array([(80.0, 90.0), (120.0, 90.0), (100.0, 110.0), (85.0, 130.0), (115.0, 130.0)])
    upright = aligned_crop(image, points, size=48)
    turn = cv2.getRotationMatrix2D((100.0, 100.0), degrees, 1.0)
    rotated = cv2.warpAffine(image, turn, (200, 200), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved = np.c_[points, np.ones(len(points))] @ turn.T
    levelled = aligned_crop(rotated, moved, size=48)
    assert np.abs(levelled - upright).mean() < 4.0  # out of 0..255: resampling blur only
    assert np.abs(aligned_crop(rotated, points, size=48) - upright).mean() > 4 * np.abs(levelled - upright).mean()


def test_fer_framing_is_a_plausible_face_square() -> None:
    # Eyes 40 px apart, mouth 45 px below them: the crop is 2-3.5 eye distances wide, centred below the eyes.
    points = [(80.0, 100.0), (120.0, 100.0), (100.0, 125.0), (85.0, 145.0), (115.0, 145.0)]
    cx, cy, side, _cos, _sin = framing_square(points)
    assert 80 < side < 140 and abs(cx - 100) < 3 and 100 < cy < 100 + side / 4
    assert math.isclose(side, FER_FRAMING.eye_scale * 40 + FER_FRAMING.mouth_scale * 45)


def test_crop_faces_uses_landmarks_where_given() -> None:
    image = cv2.cvtColor(_pattern(), cv2.COLOR_GRAY2BGR)
    points = [(80.0, 90.0), (120.0, 90.0), (100.0, 110.0), (85.0, 130.0), (115.0, 130.0)]
    boxes = [(60, 60, 80, 80), (60, 60, 80, 80)]
    both = crop_faces(image, boxes, landmarks=[points, None])
    np.testing.assert_array_equal(both[0], aligned_crop(image, points))
    np.testing.assert_array_equal(both[1], crop_faces(image, boxes[:1])[0])
    np.testing.assert_array_equal(crop_faces(image, boxes, landmarks=[points, None], framing=None)[0], both[1])
    with pytest.raises(ValueError, match="got 2 boxes but 1 landmark sets"):
        crop_faces(image, boxes, landmarks=[points])


def test_crop_leaving_the_image_repeats_the_border() -> None:
    image = np.full((40, 40), 200, np.uint8)
    crop = aligned_crop(image, [(0.0, 0.0), (10.0, 0.0)], framing=EYES_ONLY._replace(eye_scale=8.0))
    assert crop.shape == (48, 48, 1) and np.all(crop == 200)
