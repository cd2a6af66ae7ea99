"""Synthetic test images: a drawn face that both the Haar cascade and MTCNN detect, and blanks."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]


def draw_face(size: int = 120, *, background: int = 60, skin: int = 170) -> np.ndarray:
    """A gray cartoon face (oval, brows, eyes, nose, mouth) centred in a ``2*size`` square, as BGR.

    The face oval is about ``0.76*size`` wide and ``size`` tall; Haar finds it from ``size=60`` up.
    """
    img = np.full((size * 2, size * 2), background, np.uint8)
    cx = cy = size
    cv2.ellipse(img, (cx, cy), (int(size * 0.38), int(size * 0.5)), 0, 0, 360, skin, -1)
    for side in (-1, 1):
        eye = (cx + side * int(size * 0.16), cy - int(size * 0.12))
        cv2.ellipse(img, eye, (int(size * 0.07), int(size * 0.035)), 0, 0, 360, 40, -1)
        cv2.line(
            img,
            (cx + side * int(size * 0.08), cy - int(size * 0.2)),
            (cx + side * int(size * 0.25), cy - int(size * 0.21)),
            60,
            max(1, int(size * 0.03)),
        )
    cv2.line(img, (cx, cy - int(size * 0.05)), (cx, cy + int(size * 0.1)), 120, max(1, int(size * 0.03)))
    cv2.ellipse(img, (cx, cy + int(size * 0.22)), (int(size * 0.12), int(size * 0.04)), 0, 0, 360, 70, -1)
    img = cv2.GaussianBlur(img, (0, 0), size * 0.01 + 0.5)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def face_scene(
    *, width: int = 640, height: int = 480, faces: tuple[tuple[int, int], ...] = ((200, 100),), size: int = 100
) -> np.ndarray:
    """A dark BGR frame with a :func:`draw_face` pasted with its top-left corner at each position."""
    frame = np.full((height, width, 3), 60, np.uint8)
    tile = draw_face(size)
    for x, y in faces:
        frame[y : y + 2 * size, x : x + 2 * size] = tile
    return frame


FAINT_FACE_SCORE = (0.35, 0.52)
"""What YuNet scores :func:`faint_face_scene`'s face (0.43 when measured): under its own threshold (0.6),
above 0.3, so ``min_score`` 0.3 keeps it and 0.55 or the default drops it. The face verifier
(:mod:`core.verifier`) takes it for a face (O-Net: 1.00), so it is kept with or without it."""


def faint_face_scene() -> np.ndarray:
    """A 640x480 dark BGR frame with one small, faint, soft :func:`draw_face` (skin 20 levels above the
    background, blurred).

    YuNet finds it only below its default threshold (:data:`FAINT_FACE_SCORE`), and nothing else in the frame.
    """
    frame = np.full((480, 640, 3), 60, np.uint8)
    frame[100:180, 200:280] = cv2.GaussianBlur(draw_face(40, background=60, skin=80), (0, 0), 3)
    return frame


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def fer_csv_path() -> Path | None:
    """The FER2013 CSV if ``FER2013_PATH`` names it (it is never part of the repository)."""
    from tests.real_data import REAL_FER2013  # noqa: PLC0415

    return REAL_FER2013


def read_fer_faces(path: Path, count: int = 3) -> list[np.ndarray]:
    """The first ``count`` 48x48 ``uint8`` faces of the FER2013 CSV (reads only those rows)."""
    faces = []
    with gzip.open(path, "rt", newline="") if path.suffix == ".gz" else open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            faces.append(np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48))
            if len(faces) == count:
                break
    return faces
