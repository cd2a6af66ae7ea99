"""Turn face boxes in a BGR image into model input, exactly as the FER2013 training data looks.

FER2013 images are 48x48 grayscale ``uint8`` fed raw (0..255) to the model, whose first layer
rescales. So a face crop is: expand the box by a margin, make it square, cut it out, convert with
``cv2.COLOR_BGR2GRAY``, resize with ``cv2.INTER_AREA`` to 48x48, and pass the values unchanged as
``float32``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from core.errors import InvalidImageError
from core.labels import FACE_SIZE

Box = tuple[int, int, int, int]
Points = Sequence[Sequence[float]]


class FaceFraming(NamedTuple):
    """Where a FER2013-style crop lies relative to a face's landmarks, after levelling the eyes.

    The crop is a square of side ``eye_scale * d_eye + mouth_scale * d_mouth``, where ``d_eye`` is
    the distance between the eyes and ``d_mouth`` from the eye midpoint to the mouth-corner midpoint
    (the second keeps turned faces, whose eyes look close together, from getting a small crop). Its
    centre lies ``dx`` crop sides along the eye line (towards the left eye) and ``dy`` crop sides
    below it, from the eye midpoint.
    """

    eye_scale: float
    mouth_scale: float
    dx: float
    dy: float


FER_FRAMING = FaceFraming(eye_scale=1.561, mouth_scale=1.012, dx=0.0023, dy=0.1193)
"""How FER2013 frames its faces relative to YuNet's landmarks, measured, not guessed.

Fitted by ``python -m benchmarks.yunet_framing`` (seed 0) on 789 FER2013 Training faces, upscaled
to 96-240 px, pasted into 640x480 scenes and re-found by YuNet: the crop side is least squares on
the two distances (median error 9.7% of the side; eye distance alone, 10.0%), the centre the
median offset (0.12 sides below the eye midpoint, centred across; interquartile range 0.05 and 0.06
sides). PublicTest is not used for it. On 1000 PublicTest faces pasted the same way, the shipped
model (``fast``, flip TTA) scores 69.1% on the original crops and 66.8% on the faces re-found
(97.5% of them) and cropped this way, misses counted wrong; cut from YuNet's box with the default
margin instead, 61.0%. On the re-found faces alone: 68.5% against 69.3% on their original crops.
"""

# Fraction of the box width/height added on each side before cropping.
DEFAULT_MARGIN: float = 0.1


def check_image(image: np.ndarray) -> np.ndarray:
    """Check that ``image`` is a ``uint8`` gray ``(H, W)``, BGR ``(H, W, 3)`` or BGRA ``(H, W, 4)`` array.

    Returns:
        The same array, for chaining.

    Raises:
        InvalidImageError: with the shape and dtype that were found.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"expected an image as a numpy array, got {type(image).__name__}")
    ok_shape = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))
    if not ok_shape or image.dtype != np.uint8:
        raise InvalidImageError(
            f"expected a uint8 image of shape (H, W), (H, W, 3) BGR or (H, W, 4) BGRA, "
            f"got {image.dtype} {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"the image is empty ({image.shape[1]}x{image.shape[0]} pixels)")
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grayscale ``uint8`` ``(H, W)`` view of a gray, BGR or BGRA image (BGR weights as in training)."""
    check_image(image)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """BGR ``uint8`` ``(H, W, 3)`` version of a gray, BGR or BGRA image (a new array unless already BGR)."""
    check_image(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def clip_box(box: Sequence[float], image_shape: Sequence[int]) -> Box | None:
    """Clip an ``(x, y, w, h)`` box to the image; ``None`` when nothing of it is inside, or it is not finite."""
    height, width = int(image_shape[0]), int(image_shape[1])
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def expand_box(
    box: Sequence[float], margin: float, image_shape: Sequence[int], *, square: bool = False
) -> Box:
    """Grow an ``(x, y, w, h)`` box by ``margin`` of its size on every side, clipped to the image.

    Args:
        box: ``(x, y, w, h)`` in pixels.
        margin: fraction of the width (height) added on the left and right (top and bottom); 0 keeps
            the box, 0.1 makes a 100-pixel box 120 pixels.
        image_shape: ``image.shape``; only height and width are used.
        square: first grow the shorter side around the centre so the box is square, as FER2013
            faces are (clipping at the border can still make the result non-square).

    Raises:
        ValueError: negative margin, or a box with no area inside the image.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (a fraction of the box size), got {margin}")
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"box {tuple(box)} has no area; expected (x, y, w, h) with w, h > 0")
    if square and w != h:
        side = max(w, h)
        x, y, w, h = x - (side - w) / 2, y - (side - h) / 2, side, side
    dx, dy = w * margin, h * margin
    clipped = clip_box((x - dx, y - dy, w + 2 * dx, h + 2 * dy), image_shape)
    if clipped is None:
        raise ValueError(f"box {tuple(box)} lies outside the {image_shape[1]}x{image_shape[0]} image")
    return clipped


def prepare_crop(image: np.ndarray, *, size: int = FACE_SIZE) -> np.ndarray:
    """Model input for an image that is already one face: gray, resized, ``float32 (size, size, 1)`` in 0..255."""
    gray = to_gray(image)
    if gray.shape != (size, size):
        gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
    return gray.astype(np.float32)[:, :, None]


def framing_square(landmarks: Points, framing: FaceFraming = FER_FRAMING) -> tuple[float, float, float, float, float]:
    """The levelled crop square for a face: ``(centre_x, centre_y, side, cos, sin)`` of the eye line.

    Args:
        landmarks: at least the first two of YuNet's points: right eye (image left), left eye, and,
            for ``mouth_scale``, the two mouth corners at indices 3 and 4.
        framing: see :class:`FaceFraming`.

    Raises:
        ValueError: too few points, or eyes on the same pixel.
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if len(points) < (5 if framing.mouth_scale else 2):
        raise ValueError(f"need the 5 landmarks (eyes, nose, mouth corners) to frame a face, got {len(points)}")
    right_eye, left_eye = points[0], points[1]
    along = left_eye - right_eye
    d_eye = float(math.hypot(along[0], along[1]))
    if d_eye < 1e-6:
        raise ValueError("the two eye landmarks coincide; cannot level the face")
    cos, sin = along / d_eye
    mid = (right_eye + left_eye) / 2
    d_mouth = float(np.linalg.norm((points[3] + points[4]) / 2 - mid)) if framing.mouth_scale else 0.0
    side = framing.eye_scale * d_eye + framing.mouth_scale * d_mouth
    if not side > 0:
        raise ValueError(f"landmarks give a crop of side {side:.3g} pixels; expected > 0")
    # "Below the eye line" is the eye direction turned 90 degrees clockwise on screen: (-sin, cos).
    centre = mid + framing.dx * side * np.array([cos, sin]) + framing.dy * side * np.array([-sin, cos])
    return float(centre[0]), float(centre[1]), float(side), float(cos), float(sin)


def aligned_crop(
    image: np.ndarray, landmarks: Points, *, framing: FaceFraming = FER_FRAMING, size: int = FACE_SIZE
) -> np.ndarray:
    """One face levelled (eyes horizontal) and framed like FER2013, as ``float32 (size, size, 1)`` in 0..255.

    The square of :func:`framing_square` is resampled straight from the full-resolution gray image
    (border pixels repeated where it leaves the image), then shrunk with ``INTER_AREA`` as
    :func:`prepare_crop` does, so a large face is not aliased.
    """
    gray = to_gray(image)
    cx, cy, side, cos, sin = framing_square(landmarks, framing)
    work = int(min(max(size, round(side)), 4 * size))
    step = side / work
    # Output pixel (p, q) samples the image at centre + (p + 0.5 - work/2) * step * u + (q + ...) * step * n.
    offset = (0.5 - work / 2) * step
    inverse = np.array(
        [
            [step * cos, -step * sin, cx + offset * cos - offset * sin],
            [step * sin, step * cos, cy + offset * sin + offset * cos],
        ]
    )
    # warpAffine's pixel centres are integers; ours are at +0.5.
    inverse[:, 2] -= 0.5
    patch = cv2.warpAffine(
        gray, inverse, (work, work), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return prepare_crop(patch, size=size)


def crop_faces(
    image_bgr: np.ndarray,
    boxes: Iterable[Sequence[float]],
    *,
    size: int = FACE_SIZE,
    margin: float = DEFAULT_MARGIN,
    square: bool = True,
    landmarks: Iterable[Points | None] | None = None,
    framing: FaceFraming | None = FER_FRAMING,
) -> np.ndarray:
    """Cut each face out of the image as model input.

    Args:
        image_bgr: ``uint8`` BGR (or gray/BGRA) image.
        boxes: ``(x, y, w, h)`` boxes, e.g. from a detector.
        size: output side in pixels (the model's input size).
        margin: see :func:`expand_box` (for faces cut from their box).
        square: see :func:`expand_box`.
        landmarks: per box, its detector landmarks or ``None``; a face with landmarks is levelled
            and framed by :func:`aligned_crop` instead of cut from its box.
        framing: the framing for faces with landmarks; ``None`` cuts every face from its box.

    Returns:
        ``float32`` array ``(N, size, size, 1)`` of raw gray values 0..255; ``(0, size, size, 1)``
        when there are no boxes.
    """
    gray = to_gray(image_bgr)
    boxes = list(boxes)
    points = [None] * len(boxes) if landmarks is None or framing is None else list(landmarks)
    if len(points) != len(boxes):
        raise ValueError(f"got {len(boxes)} boxes but {len(points)} landmark sets; expected one per box")
    crops = []
    for box, face_points in zip(boxes, points):
        if face_points is not None:
            crops.append(aligned_crop(gray, face_points, framing=framing, size=size))
            continue
        x, y, w, h = expand_box(box, margin, gray.shape, square=square)
        crops.append(prepare_crop(gray[y : y + h, x : x + w], size=size))
    if not crops:
        return np.zeros((0, size, size, 1), dtype=np.float32)
    return np.stack(crops).astype(np.float32, copy=False)


def crop_transform(
    box: Sequence[float],
    image_shape: Sequence[int],
    *,
    size: int = FACE_SIZE,
    margin: float = DEFAULT_MARGIN,
    square: bool = True,
    landmarks: Points | None = None,
    framing: FaceFraming | None = FER_FRAMING,
) -> np.ndarray:
    """Where :func:`crop_faces` took one face from: the ``2x3`` affine map from crop to image coordinates.

    Coordinates are continuous, with pixel ``i`` covering ``[i, i + 1)`` (so pixel centres are at
    ``i + 0.5``) in both the crop and the image; ``transform @ (u, v, 1)`` is the image point of crop
    point ``(u, v)``. The arguments are :func:`crop_faces`'s for that face.
    """
    if landmarks is not None and framing is not None:
        cx, cy, side, cos, sin = framing_square(landmarks, framing)
        scale = side / size
        # Crop x runs along the eye line (cos, sin), crop y below it (-sin, cos), as aligned_crop samples.
        linear = np.array([[scale * cos, -scale * sin], [scale * sin, scale * cos]])
        offset = np.array([cx, cy]) - linear @ np.array([size / 2, size / 2])
    else:
        x, y, w, h = expand_box(box, margin, image_shape, square=square)
        linear = np.diag([w / size, h / size])
        offset = np.array([x, y], dtype=np.float64)
    return np.hstack([linear, offset[:, None]]).astype(np.float64)


# Test-time augmentation: the views of each face whose probabilities are averaged.
TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")
# Ten-crop: corner and centre crops of this fraction of the face, resized back, plus their mirrors.
TENCROP_FRACTION = 0.92


def tta_mode(value: bool | str | None) -> str:
    """Normalise a TTA option: ``False``/``None`` -> ``"none"``, ``True`` -> ``"flip"``, else a name."""
    if value is None or value is False:
        return "none"
    if value is True:
        return "flip"
    mode = str(value).strip().lower()
    if mode not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {value!r}; expected one of {', '.join(TTA_MODES)}")
    return mode


def tta_views(faces: np.ndarray, mode: str) -> np.ndarray:
    """The views of a batch of faces that TTA ``mode`` classifies.

    Args:
        faces: ``float32 (N, S, S, 1)`` model inputs.
        mode: one of :data:`TTA_MODES`.

    Returns:
        ``float32 (V, N, S, S, 1)``: 1 view for ``none``, 2 for ``flip`` (mirror), 10 for
        ``tencrop`` (four corners and the centre at :data:`TENCROP_FRACTION`, and their mirrors).
    """
    mode = tta_mode(mode)
    faces = np.asarray(faces, dtype=np.float32)
    if mode == "none":
        return faces[None]
    if mode == "flip":
        return np.stack([faces, faces[:, :, ::-1]])
    n, size = faces.shape[0], faces.shape[1]
    side, offsets = _tencrop_squares(size)
    views = np.empty((5, n, size, size, 1), dtype=np.float32)
    for v, (top, left) in enumerate(offsets):
        for i in range(n):
            crop = faces[i, top : top + side, left : left + side, 0]
            views[v, i, :, :, 0] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([views, views[:, :, :, ::-1]])


def _tencrop_squares(size: int) -> tuple[int, list[tuple[int, int]]]:
    """Ten-crop's square side and its five ``(top, left)`` corners in a ``size`` face."""
    side = int(round(size * TENCROP_FRACTION))
    return side, [(0, 0), (0, size - side), (size - side, 0), (size - side, size - side), ((size - side) // 2,) * 2]


def tta_maps_to_face(maps: np.ndarray, mode: str) -> np.ndarray:
    """Bring per-view maps (one value per view pixel) back into the face's own frame: the inverse of :func:`tta_views`.

    A mirrored view's map is mirrored back; a ten-crop view's map is resized back onto the square of
    the face it shows, and is 0 where that view does not see the face.

    Args:
        maps: ``(V, S, S)``, one map per view of :func:`tta_views` for one face, in its order.
        mode: one of :data:`TTA_MODES`.

    Returns:
        ``float32 (V, S, S)``.
    """
    mode = tta_mode(mode)
    maps = np.asarray(maps, dtype=np.float32)
    expected = {"none": 1, "flip": 2, "tencrop": 10}[mode]
    if maps.ndim != 3 or maps.shape[0] != expected or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"expected {expected} square maps for TTA {mode!r}, got shape {maps.shape}")
    if mode == "none":
        return maps.copy()
    if mode == "flip":
        return np.stack([maps[0], maps[1][:, ::-1]])
    size = maps.shape[1]
    side, offsets = _tencrop_squares(size)
    back = np.zeros_like(maps)
    for v in range(10):
        top, left = offsets[v % 5]
        view = maps[v] if v < 5 else maps[v][:, ::-1]
        back[v, top : top + side, left : left + side] = cv2.resize(view, (side, side), interpolation=cv2.INTER_AREA)
    return back
