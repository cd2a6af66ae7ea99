"""FER2013 faces pasted into scenes and found again by a detector: the material of the framing's fit
(``python -m benchmarks.yunet_framing``, which fitted :data:`core.preprocess.FER_FRAMING`) and of the
serving path's crop errors (:mod:`training.jitter`).

Each face is upscaled (bicubic, 96-240 px, random) and pasted at a random place into a 640x480
scene of uniform gray (a random level) plus Gaussian noise, so the face's own background ends at a
visible edge as in a real photo; the detection that overlaps the pasted square is the face.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

SCENE_W, SCENE_H = 640, 480
FIT_MIN_SCORE = 0.3
"""The still-photo detector's score threshold for the fit, so the scores of hard faces are seen."""


def paste_scene(face: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A BGR scene with ``face`` upscaled and pasted, and the pasted square ``(x, y, side)``."""
    side = int(rng.integers(96, 241))
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    level = int(rng.integers(40, 216))
    scene = np.clip(rng.normal(level, 10.0, (SCENE_H, SCENE_W)), 0, 255).astype(np.uint8)
    x, y = int(rng.integers(0, SCENE_W - side)), int(rng.integers(0, SCENE_H - side))
    scene[y : y + side, x : x + side] = big
    return cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR), (x, y, side)


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def find_faces(
    detector: Any, faces: np.ndarray, rng: np.random.Generator
) -> tuple[list[Any], list[tuple[float, bool]]]:
    """Per face ``(scene, square, detection or None)``; per other detection, its score and whether
    its centre lies inside the pasted square (a face framed small in its FER2013 crop, or part of one)."""
    out, stray = [], []
    for face in faces:
        scene, (x, y, side) = paste_scene(face, rng)
        best, best_iou = None, 0.3
        others = []
        for det in detector.detect(scene):
            overlap = _iou(det.box, (x, y, side, side))
            if overlap > best_iou:
                if best is not None:
                    others.append(best)
                best, best_iou = det, overlap
            else:
                others.append(det)
        for det in others:
            cx, cy = det.box[0] + det.box[2] / 2, det.box[1] + det.box[3] / 2
            stray.append((det.score, bool(x <= cx <= x + side and y <= cy <= y + side)))
        out.append((scene, (x, y, side), best))
    return out, stray
