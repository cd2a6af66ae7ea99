"""Draw face boxes with their emotion and confidence onto a copy of an image."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

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
    numbers: Sequence[int] | None = None,
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
        numbers: instead, the number of each face, in the order given (e.g. its track id in a
            video); implies ``numbered``.

    Returns:
        A new ``uint8`` BGR array of the same height and width.
    """
    canvas = to_bgr(image_bgr).copy()
    height, width = canvas.shape[:2]
    size = max(height, width)
    thickness = max(1, round(size / 400))
    base_scale = max(0.4, size / 1100)
    faces = list(results)
    boxes = [tuple(int(v) for v in face.box) for face in faces]
    if numbers is None and numbered:
        numbers = range(1, len(faces) + 1)
    if numbers is not None and len(numbers) != len(faces):
        raise ValueError(f"got {len(numbers)} numbers for {len(faces)} faces; give one number per face")
    placed: list[Rect] = []
    for index, (result, (x, y, w, h)) in enumerate(zip(faces, boxes)):
        color = EMOTION_COLORS.get(result.emotion, (255, 255, 255))
        cv2.rectangle(canvas, (x, y), (x + max(w, 1) - 1, y + max(h, 1) - 1), color, thickness, cv2.LINE_8)
        texts = [f"{result.emotion} {result.confidence:.0%}", result.emotion] if show_confidence else [result.emotion]
        if numbers is not None:
            texts = [f"{numbers[index]}: {text}" for text in texts] + [str(numbers[index])]
        others = [box for other, box in enumerate(boxes) if other != index]
        placed.append(_draw_label(
            canvas, texts, (x, y, w, h), color, base_scale=base_scale, thickness=thickness, avoid=placed, faces=others,
        ))  # fmt: skip
        points = getattr(result, "landmarks", None) if show_landmarks else None
        for px, py in points or ():
            # Radius grows with the face, so dots stay visible without hiding a small face.
            radius = max(1, round(min(w, h) / 40))
            cv2.circle(canvas, (int(round(px)), int(round(py))), radius, color, cv2.FILLED, cv2.LINE_AA)
    return canvas


DROPPED_COLOR = (128, 128, 128)
"""Gray (BGR): boxes the face checks dropped, drawn on request so a person can see what was left out."""


def mark_dropped(image_bgr: np.ndarray, dropped: Iterable[Any]) -> np.ndarray:
    """A copy of the image with each dropped box (:class:`core.detection.Dropped`) in gray, labelled by its rule."""
    canvas = to_bgr(image_bgr).copy()
    size = max(canvas.shape[:2])
    thickness = max(1, round(size / 600))
    placed: list[Rect] = []
    for drop in dropped:
        x, y, w, h = (int(v) for v in drop.detection.box)
        cv2.rectangle(canvas, (x, y), (x + max(w, 1) - 1, y + max(h, 1) - 1), DROPPED_COLOR, thickness, cv2.LINE_8)
        texts = [f"not a face: {drop.rule} ({drop.detection.score:.2f})", drop.rule]
        placed.append(_draw_label(canvas, texts, (x, y, w, h), DROPPED_COLOR, base_scale=max(0.4, size / 1400),
                                  thickness=thickness, avoid=placed))  # fmt: skip
    return canvas


Rect = tuple[int, int, int, int]  # x, y, w, h


def _overlap(a: Rect, b: Rect) -> int:
    """Pixels two rectangles share."""
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, dx) * max(0, dy)


def label_rect(
    size: tuple[int, int], box: Rect, label: tuple[int, int], *, avoid: Iterable[Rect] = (), faces: Iterable[Rect] = ()
) -> tuple[Rect, int]:
    """Where a ``label`` (width, height) of ``box`` goes in an image of ``size`` (width, height).

    Above the box when there is room, else below it, else just inside its top edge; always within
    the image. The first of those that covers no rectangle of ``avoid`` (labels already drawn) and
    the least of ``faces`` (other faces' boxes) wins. Returns the rectangle and the pixels of
    ``avoid`` it covers (0 unless every place collides; then the least).
    """
    width, height = size
    label_w, label_h = label
    x, y, _w, h = box
    left = int(np.clip(x, 0, max(0, width - label_w)))
    tops = [y - label_h] if y - label_h >= 0 else []
    tops += [y + h] if y + h + label_h <= height else []
    tops += [y]
    avoid, faces = list(avoid), list(faces)

    def cost(order_top: tuple[int, int]) -> tuple[int, int, int]:
        order, top = order_top
        rect = (left, top, label_w, label_h)
        return sum(_overlap(rect, o) for o in avoid), sum(_overlap(rect, o) for o in faces), order

    places = [(order, int(np.clip(top, 0, max(0, height - label_h)))) for order, top in enumerate(tops)]
    order, top = min(places, key=cost)
    return (left, top, label_w, label_h), cost((order, top))[0]


def _draw_label(
    canvas: np.ndarray,
    texts: list[str],
    box: Rect,
    color: tuple[int, int, int],
    *,
    base_scale: float,
    thickness: int,
    avoid: Iterable[Rect] = (),
    faces: Iterable[Rect] = (),
) -> Rect:
    """Draw the first of ``texts`` that fits the image width and, where it can, clear of ``avoid``.

    The font shrinks down to a minimum to fit the width; a shorter text is taken when the longer
    one would cover a label already drawn wherever it goes. Returns the label's rectangle.
    """
    height, width = canvas.shape[:2]
    avoid, faces = list(avoid), list(faces)
    pad = max(2, thickness)
    choice = None
    for text in texts:
        scale = base_scale
        text_thickness = max(1, thickness - 1) if scale < 0.8 else thickness
        (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, text_thickness)
        while tw + 4 > width and scale > _MIN_FONT_SCALE:
            scale = max(_MIN_FONT_SCALE, scale * 0.85)
            text_thickness = 1
            (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, text_thickness)
        if tw + 4 > width:
            continue
        label = (min(width, tw + 2 * pad), th + baseline + 2 * pad)
        rect, covered = label_rect((width, height), box, label, avoid=avoid, faces=faces)
        if choice is None or covered < choice[0]:
            choice = (covered, text, scale, text_thickness, th, rect)
        if covered == 0:
            break
    if choice is None:  # not even the shortest text fits: draw it at the minimum size anyway
        text, scale, text_thickness = texts[-1], _MIN_FONT_SCALE, 1
        (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, text_thickness)
        rect, _ = label_rect((width, height), box, (min(width, tw + 2 * pad), th + baseline + 2 * pad), avoid=avoid, faces=faces)
        choice = (0, text, scale, text_thickness, th, rect)
    _covered, text, scale, text_thickness, th, (left, top, label_w, label_h) = choice
    cv2.rectangle(canvas, (left, top), (left + label_w - 1, top + label_h - 1), color, cv2.FILLED)
    b, g, r = color
    ink = (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)
    cv2.putText(canvas, text, (left + pad, top + pad + th), _FONT, scale, ink, text_thickness, cv2.LINE_AA)
    return left, top, label_w, label_h
