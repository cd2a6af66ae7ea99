"""Why a face got its emotion: occlusion saliency maps, computed through the recognizer as it is served.

The method is occlusion (Zeiler and Fergus, 2014). Every ``8x8`` patch of the ``48x48`` face the
model sees, at a stride of 4 pixels (121 patches), is in turn replaced by a blurred copy of the face
there, and the drop in the explained emotion's probability is credited to the patch; a pixel's
value is the mean drop over the patches that cover it. Positive values mark the parts of the face
that hold up the emotion (hiding them lowers it), negative values parts that argue against it.

Why occlusion and not Grad-CAM: Grad-CAM needs the gradient of the class score with respect to a
convolution layer, and the app serves the model as an int8 ``.tflite`` file through LiteRT, which
runs the model forward only and never imports TensorFlow. Occlusion needs nothing but predictions,
so it explains the LiteRT and the Keras model alike, through :meth:`EmotionRecognizer.predict_batch`,
and it explains exactly the probability the person sees, test-time augmentation included: each
view of the face (:func:`core.preprocess.tta_views`) gets its own map, which is brought back into
the face's frame (a mirrored view's map mirrored back, :func:`core.preprocess.tta_maps_to_face`)
and averaged with the others as the views' probabilities are.

Hidden patches are filled with the face blurred (Gaussian, sigma 4 px), not with black or gray: a
flat gray square on a face is itself a feature the model may react to, while the blurred face keeps
the light and shade of the region and removes only its detail.

Cost: ``views x (121 + 1)`` model calls per face (122 without TTA, 244 with flip). See
``docs/saliency.md`` for the measured time and the sanity checks the maps pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from core.labels import EMOTIONS, FACE_SIZE
from core.preprocess import crop_transform, tta_maps_to_face, tta_mode, tta_views

DEFAULT_PATCH = 8
"""Side of the hidden square, in pixels of the 48x48 face."""
DEFAULT_STRIDE = 4
"""Step between hidden squares, in pixels (each pixel is hidden by up to 4 of them)."""
BLUR_SIGMA = 4.0
"""Gaussian sigma, in pixels, of the blurred face that fills a hidden square."""
LITERT_CHUNK = 2
"""Faces per LiteRT call: measured fastest on one core (2: 153 ms, 8: 205 ms, 248: 251 ms for 248 faces)."""


class _Predictor(Protocol):
    tta: str

    def predict_batch(self, faces: np.ndarray, *, tta: bool | str | None = None) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class FaceSaliency:
    """An occlusion map of one face for one emotion.

    Attributes:
        emotion: the emotion explained, one of :data:`core.labels.EMOTIONS`.
        probability: its probability for the face as it is (the TTA views averaged).
        heat: ``float32 (48, 48)``: how much the probability drops when that pixel's region is
            hidden (mean over the covering patches and the views); > 0 supports ``emotion``.
        crop: ``uint8 (48, 48)``: the face as the model sees it.
        tta: the test-time augmentation whose probability is explained.
        patch: the hidden squares' side, in crop pixels.
        stride: the step between hidden squares, in crop pixels.
        to_image: the ``2x3`` affine map from crop to image coordinates
            (:func:`core.preprocess.crop_transform`), or ``None`` for a face given as a crop.
    """

    emotion: str
    probability: float
    heat: np.ndarray
    crop: np.ndarray
    tta: str
    patch: int
    stride: int
    to_image: np.ndarray | None = None

    @property
    def peak(self) -> tuple[int, int]:
        """``(row, column)`` of the crop pixel whose hiding lowers the emotion most."""
        row, column = np.unravel_index(int(np.argmax(self.heat)), self.heat.shape)
        return int(row), int(column)

    @property
    def strongest_drop(self) -> float:
        """The largest drop of the probability (0..1) any pixel's region causes; 0 when none lowers it."""
        return max(0.0, float(self.heat.max()))

    def support(self) -> np.ndarray:
        """``float32 (48, 48)`` in 0..1: the positive part of :attr:`heat` over its maximum (all 0 when none)."""
        positive = np.clip(self.heat, 0.0, None)
        top = float(positive.max())
        return (positive / top).astype(np.float32) if top > 0 else np.zeros_like(positive, dtype=np.float32)


def occlusion_masks(*, size: int = FACE_SIZE, patch: int = DEFAULT_PATCH, stride: int = DEFAULT_STRIDE) -> np.ndarray:
    """The hidden squares: ``bool (K, size, size)``, one per position; the last row and column sit flush with the edge.

    Raises:
        ValueError: ``patch`` not in 1..size, or ``stride`` not in 1..patch (a larger one leaves pixels never hidden).
    """
    if not 1 <= patch <= size:
        raise ValueError(f"patch must be 1 to {size} pixels, got {patch}")
    if not 1 <= stride <= patch:
        raise ValueError(f"stride must be 1 to the patch size ({patch}) so every pixel is hidden once, got {stride}")
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    masks = np.zeros((len(starts) ** 2, size, size), dtype=bool)
    for k, (top, left) in enumerate((top, left) for top in starts for left in starts):
        masks[k, top : top + patch, left : left + patch] = True
    return masks


def emotion_index(emotion: str) -> int:
    """The label index of an emotion name.

    Raises:
        ValueError: the name is not one of :data:`core.labels.EMOTIONS` (the message lists them).
    """
    name = str(emotion).strip().lower()
    if name not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(name)


def explain_crops(
    predictor: _Predictor,
    crops: np.ndarray,
    *,
    emotion: str | None = None,
    tta: bool | str | None = None,
    patch: int = DEFAULT_PATCH,
    stride: int = DEFAULT_STRIDE,
) -> list[FaceSaliency]:
    """Occlusion maps of prepared faces.

    Args:
        predictor: an :class:`core.recognizer.EmotionRecognizer` (LiteRT or Keras), or anything with
            its ``predict_batch(faces, *, tta)`` and ``tta``.
        crops: ``(N, 48, 48[, 1])`` model inputs, raw gray 0..255.
        emotion: the emotion to explain; ``None`` explains each face's most probable one (the one shown).
        tta: the test-time augmentation whose probability is explained; ``None`` uses the predictor's.
        patch: side of the hidden squares, in crop pixels.
        stride: step between hidden squares, in crop pixels.

    Returns:
        One :class:`FaceSaliency` per face, in order (``to_image`` is ``None``).

    Raises:
        ValueError: bad shapes, an unknown emotion or TTA mode, or a bad patch or stride.
    """
    faces = np.asarray(crops, dtype=np.float32)
    if faces.ndim == 3:
        faces = faces[..., None]
    if faces.ndim != 4 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE, 1):
        raise ValueError(
            f"expected faces of shape (N, {FACE_SIZE}, {FACE_SIZE}, 1) with raw values 0..255, got {faces.shape}"
        )
    target = None if emotion is None else emotion_index(emotion)
    mode = tta_mode(predictor.tta if tta is None else tta)
    masks = occlusion_masks(patch=patch, stride=stride)
    weights = masks.astype(np.float32)
    coverage = weights.sum(axis=0)
    chunk = LITERT_CHUNK if getattr(predictor, "backend", None) == "litert" else None
    results = []
    for face in faces:
        views = tta_views(face[None], mode)[:, 0, :, :, 0]  # (V, 48, 48)
        batch = np.concatenate([_occluded(view, masks) for view in views])  # (V * (K + 1), 48, 48)
        probs = _predict(predictor, batch[..., None], chunk).reshape(len(views), len(masks) + 1, -1)
        base = probs[:, 0].mean(axis=0)
        index = int(np.argmax(base)) if target is None else target
        drops = probs[:, :1, index] - probs[:, 1:, index]  # (V, K)
        view_maps = np.tensordot(drops, weights, axes=(1, 0)) / coverage  # (V, 48, 48)
        heat = tta_maps_to_face(view_maps, mode).mean(axis=0)
        crop = np.clip(np.rint(face[:, :, 0]), 0, 255).astype(np.uint8)
        results.append(
            FaceSaliency(
                emotion=EMOTIONS[index], probability=float(base[index] / base.sum()),
                heat=_frozen(heat.astype(np.float32)), crop=_frozen(crop), tta=mode, patch=patch, stride=stride,
            )
        )  # fmt: skip
    return results


def explain_faces(
    recognizer: Any,
    image_bgr: np.ndarray,
    faces: Sequence[Any],
    *,
    emotion: str | None = None,
    tta: bool | str | None = None,
    patch: int = DEFAULT_PATCH,
    stride: int = DEFAULT_STRIDE,
) -> list[FaceSaliency]:
    """Occlusion maps of faces found in an image, cropped exactly as the recognizer cropped them.

    Args:
        recognizer: the :class:`core.recognizer.EmotionRecognizer` that classified ``faces`` (its
            ``margin`` and ``align`` decide the crops, as in :meth:`~EmotionRecognizer.predict_faces`).
        image_bgr: the image the faces were found in.
        faces: :class:`core.recognizer.FaceResult` items (``box`` and ``landmarks`` are used).
        emotion, tta, patch, stride: see :func:`explain_crops`.

    Returns:
        One :class:`FaceSaliency` per face, with ``to_image`` set, so :func:`overlay_image` can draw it.
    """
    if not faces:
        return []
    points = [getattr(face, "landmarks", None) if recognizer.align else None for face in faces]
    boxes = [face.box for face in faces]
    crops = recognizer.crop_detections(image_bgr, faces)
    maps = explain_crops(recognizer, crops, emotion=emotion, tta=tta, patch=patch, stride=stride)
    return [
        dataclasses.replace(m, to_image=crop_transform(box, image_bgr.shape, margin=recognizer.margin, landmarks=p))
        for m, box, p in zip(maps, boxes, points)
    ]


def _occluded(view: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(K + 1, 48, 48)``: the view itself, then the view with each mask's square blurred."""
    blurred = cv2.GaussianBlur(view, (0, 0), BLUR_SIGMA, borderType=cv2.BORDER_REFLECT)
    return np.concatenate([view[None], np.where(masks, blurred[None], view[None])]).astype(np.float32)


def _predict(predictor: _Predictor, batch: np.ndarray, chunk: int | None) -> np.ndarray:
    if chunk is None:
        return np.asarray(predictor.predict_batch(batch, tta="none"))
    parts = [predictor.predict_batch(batch[i : i + chunk], tta="none") for i in range(0, len(batch), chunk)]
    return np.concatenate(parts)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# Drawing ------------------------------------------------------------------------------------------

DEFAULT_ALPHA = 0.6
"""How strongly the heat colours cover the face where the map is at its peak."""


def heat_colors(support: np.ndarray) -> np.ndarray:
    """BGR ``uint8`` colours of a 0..1 map (dark blue low, yellow-red high; OpenCV's JET)."""
    return cv2.applyColorMap(np.clip(np.rint(support * 255), 0, 255).astype(np.uint8), cv2.COLORMAP_JET)


def shown_support(saliency: FaceSaliency) -> np.ndarray:
    """:meth:`FaceSaliency.support` as drawn: smoothed over the stride's grid (sigma half a stride), peak 1."""
    smooth = cv2.GaussianBlur(saliency.support(), (0, 0), saliency.stride / 2, borderType=cv2.BORDER_REPLICATE)
    top = float(smooth.max())
    return smooth / top if top > 0 else smooth


def _blend(base_bgr: np.ndarray, support: np.ndarray, alpha: float) -> np.ndarray:
    weight = (alpha * np.clip(support, 0.0, 1.0))[..., None]
    out = base_bgr.astype(np.float32) * (1 - weight) + heat_colors(support).astype(np.float32) * weight
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def overlay_crop(saliency: FaceSaliency, *, size: int = 192, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """The face as the model saw it, enlarged to ``size`` pixels, with the map over it (BGR ``uint8``).

    Only what supports the emotion is coloured, scaled to the map's own peak, so a weak map shows as
    strongly as a strong one; :attr:`FaceSaliency.strongest_drop` says how strong it is. The map is
    smoothed over its grid for drawing (:func:`shown_support`).
    """
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel, got {size}")
    face = cv2.cvtColor(cv2.resize(saliency.crop, (size, size), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    support = cv2.resize(shown_support(saliency), (size, size), interpolation=cv2.INTER_LINEAR)
    return _blend(face, support, alpha)


def overlay_image(image_bgr: np.ndarray, maps: Sequence[FaceSaliency], *, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """A copy of the photo with each face's map drawn where the face's crop came from (BGR ``uint8``).

    Maps without ``to_image`` (faces given as crops) are stretched over the whole image.
    """
    from core.preprocess import to_bgr  # noqa: PLC0415

    canvas = to_bgr(image_bgr).copy()
    height, width = canvas.shape[:2]
    for saliency in maps:
        transform = saliency.to_image
        if transform is None:
            transform = np.array([[width / FACE_SIZE, 0, 0], [0, height / FACE_SIZE, 0]], dtype=np.float64)
        # Continuous coordinates (pixel i covers [i, i+1)) to OpenCV's pixel-centre indices.
        linear = transform[:, :2]
        index_map = np.hstack([linear, (linear @ np.array([0.5, 0.5]) + transform[:, 2] - 0.5)[:, None]])
        support = cv2.warpAffine(
            shown_support(saliency), index_map, (width, height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )  # fmt: skip
        canvas = _blend(canvas, support, alpha)
    return canvas


def face_square(
    saliency: FaceSaliency, image_shape: Sequence[int], *, pad: float = 0.25
) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the image around a face's crop (its bounds grown by ``pad`` of its side), clipped.

    Raises:
        ValueError: the map has no ``to_image`` (a face given as a crop has no place in a photo).
    """
    if saliency.to_image is None:
        raise ValueError("this map has no place in a photo (its face was given as a crop)")
    square = np.array([[0, 0, 1], [FACE_SIZE, 0, 1], [0, FACE_SIZE, 1], [FACE_SIZE, FACE_SIZE, 1]]).T
    corners = saliency.to_image @ square
    (x0, y0), (x1, y1) = corners.min(axis=1), corners.max(axis=1)
    grow = pad * max(x1 - x0, y1 - y0)
    left, top = max(0, int(np.floor(x0 - grow))), max(0, int(np.floor(y0 - grow)))
    right = min(int(image_shape[1]), int(np.ceil(x1 + grow)))
    bottom = min(int(image_shape[0]), int(np.ceil(y1 + grow)))
    return left, top, max(1, right - left), max(1, bottom - top)


def overlay_face(
    image_bgr: np.ndarray, saliency: FaceSaliency, *, pad: float = 0.25, alpha: float = DEFAULT_ALPHA
) -> np.ndarray:
    """The face's part of the photo (:func:`face_square`) with its map drawn where the crop came from (BGR).

    Only that part is drawn on, so a 12-megapixel photo costs no more than a small one.
    """
    x, y, w, h = face_square(saliency, image_bgr.shape, pad=pad)
    shifted = saliency.to_image - np.array([[0, 0, x], [0, 0, y]], dtype=np.float64)
    part = image_bgr[y : y + h, x : x + w]
    return overlay_image(part, [dataclasses.replace(saliency, to_image=shifted)], alpha=alpha)


def explanation_panel(
    saliency: FaceSaliency, image_bgr: np.ndarray | None = None, *, size: int = 192, alpha: float = DEFAULT_ALPHA
) -> np.ndarray:
    """What ``predict --explain`` writes for a face (BGR ``uint8``): the face as the model sees it, its map
    over it and, given the photo and a map that knows its place in it, the map over the face in the photo,
    side by side at ``size`` pixels high, above a caption line.
    """
    face = cv2.cvtColor(cv2.resize(saliency.crop, (size, size), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    parts = [face, overlay_crop(saliency, size=size, alpha=alpha)]
    if image_bgr is not None and saliency.to_image is not None:
        photo = overlay_face(image_bgr, saliency, alpha=alpha)
        width = max(1, round(photo.shape[1] * size / photo.shape[0]))
        parts.append(cv2.resize(photo, (width, size), interpolation=cv2.INTER_CUBIC))
    gap = np.full((size, 4, 3), 255, np.uint8)
    pictures = np.hstack([piece for part in parts for piece in (gap, part)][1:])
    caption = np.full((28, pictures.shape[1], 3), 255, np.uint8)
    text = (
        f"why {saliency.emotion} ({saliency.probability:.0%}): "
        f"hiding red lowers it up to {saliency.strongest_drop:.0%}"
    )
    scale = 0.45
    while cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > pictures.shape[1] - 8 and scale > 0.25:
        scale *= 0.9
    cv2.putText(caption, text, (4, 19), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([pictures, caption])
