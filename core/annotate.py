"""Draw face boxes with their emotion and confidence onto a copy of an image."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Protocol

import cv2
import numpy as np

from core.preprocess import to_bgr

EMOTION_COLORS: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "angry": (40, 40, 220),
        "disgust": (40, 140, 40),
        "fear": (160, 60, 160),
        "happy": (0, 200, 255),
        "sad": (200, 110, 30),
        "surprise": (0, 140, 255),
        "neutral": (170, 170, 170),
    }
)
"""BGR colour of each emotion, shared by the drawings and (converted to RGB) the charts."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MIN_FONT_SCALE = 0.25


class _Labelled(Protocol):
    box: tuple[int, int, int, int]
    emotion: str
    confidence: float


def emotion_color_rgb(emotion: str) -> tuple[int, int, int]:
    """The RGB colour of an emotion (for Plotly and other RGB consumers)."""
    b, g, r = EMOTION_COLORS.get(emotion, (255, 255, 255))
    return (r, g, b)


def annotate(
    image_bgr: np.ndarray,
    results: Iterable[_Labelled],
    *,
    show_confidence: bool = True,
    show_landmarks: bool = False,
    numbered: bool = False,
) -> np.ndarray:
    """Return a copy of the image with a box and an ``emotion NN%`` label per face.

    Line width and font scale grow with the image so labels stay readable from thumbnails to
    large photos; each label is kept inside the image. The input is never modified.

    Args:
        image_bgr: ``uint8`` BGR image (gray and BGRA are converted to BGR in the copy).
        results: items with ``box``, ``emotion`` and ``confidence``, e.g. :class:`core.recognizer.FaceResult`.
        show_confidence: append the confidence as a percentage.
        show_landmarks: also mark each face's ``landmarks`` (when it has them, e.g. from YuNet)
            with small filled dots in the face's colour.
        numbered: start each label with the face's number (1, 2, ... in the order given), so the
            picture matches per-face charts and tables.

    Returns:
        A new ``uint8`` BGR array of the same height and width.
    """
    canvas = to_bgr(image_bgr).copy()
    height, width = canvas.shape[:2]
    size = max(height, width)
    thickness = max(1, round(size / 400))
    base_scale = max(0.4, size / 1100)
    for number, result in enumerate(results, start=1):
        color = EMOTION_COLORS.get(result.emotion, (255, 255, 255))
        x, y, w, h = (int(v) for v in result.box)
        cv2.rectangle(canvas, (x, y), (x + max(w, 1) - 1, y + max(h, 1) - 1), color, thickness, cv2.LINE_8)
        texts = [f"{result.emotion} {result.confidence:.0%}", result.emotion] if show_confidence else [result.emotion]
        if numbered:
            texts = [f"{number}: {text}" for text in texts] + [str(number)]
        _draw_label(canvas, texts, (x, y, w, h), color, base_scale=base_scale, thickness=thickness)
        points = getattr(result, "landmarks", None) if show_landmarks else None
        for px, py in points or ():
            # Radius grows with the face, so dots stay visible without hiding a small face.
            radius = max(1, round(min(w, h) / 40))
            cv2.circle(canvas, (int(round(px)), int(round(py))), radius, color, cv2.FILLED, cv2.LINE_AA)
    return canvas


def _draw_label(
    canvas: np.ndarray,
    texts: list[str],
    box: tuple[int, int, int, int],
    color: tuple[int, int, int],
    *,
    base_scale: float,
    thickness: int,
) -> None:
    """Draw the first of ``texts`` that fits the image width (shrinking the font down to a minimum)."""
    height, width = canvas.shape[:2]
    for text in texts:
        scale = base_scale
        text_thickness = max(1, thickness - 1) if scale < 0.8 else thickness
        (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, text_thickness)
        while tw + 4 > width and scale > _MIN_FONT_SCALE:
            scale = max(_MIN_FONT_SCALE, scale * 0.85)
            text_thickness = 1
            (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, text_thickness)
        if tw + 4 <= width:
            break
    pad = max(2, thickness)
    label_h = th + baseline + 2 * pad
    label_w = min(width, tw + 2 * pad)
    x, y, _w, h = box
    left = int(np.clip(x, 0, max(0, width - label_w)))
    # Above the box when there is room, else just inside its top edge; always within the image.
    top = y - label_h if y - label_h >= 0 else y
    top = int(np.clip(top, 0, max(0, height - label_h)))
    cv2.rectangle(canvas, (left, top), (left + label_w - 1, top + label_h - 1), color, cv2.FILLED)
    b, g, r = color
    ink = (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)
    cv2.putText(canvas, text, (left + pad, top + pad + th), _FONT, scale, ink, text_thickness, cv2.LINE_AA)
