"""Tracking faces across video frames: match boxes by overlap, keep ids, smooth probabilities.

Used by the live webcam, by video files and by anything else that sees a face more than once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from core.labels import EMOTIONS


class _Face(Protocol):
    box: tuple[int, int, int, int]
    probabilities: dict[str, float]


class SmoothedFace(NamedTuple):
    """A face tracked across frames, with probabilities averaged over recent frames."""

    track_id: int
    box: tuple[int, int, int, int]
    emotion: str
    confidence: float
    probabilities: dict[str, float]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes (0.0 when they do not overlap)."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class _Track:
    __slots__ = ("id", "box", "probs", "missed")

    def __init__(self, track_id: int, box: tuple[int, int, int, int], probs: np.ndarray) -> None:
        self.id = track_id
        self.box = box
        self.probs = probs
        self.missed = 0


class FaceSmoother:
    """Exponential moving average of each face's probabilities, matching faces between frames by IoU.

    A face keeps its track while its box overlaps the previous one by at least ``iou_threshold``;
    the label shown is the arg-max of the averaged probabilities, so a single odd frame does not
    flip it. A track survives ``max_missed`` frames without a match (a blink of the detector).
    """

    def __init__(self, *, alpha: float = 0.35, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        """Args:
        alpha: weight of the newest frame, in (0, 1]; 1 turns smoothing off.
        iou_threshold: least overlap, in (0, 1], for a box to continue a track.
        max_missed: frames a track is kept without a matching face.
        """
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1] (1 = no smoothing), got {alpha}")
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0 frames, got {max_missed}")
        self.alpha = float(alpha)
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self._tracks: list[_Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget every track."""
        self._tracks = []

    def update(self, faces: Iterable[_Face]) -> list[SmoothedFace]:
        """Feed one frame's faces; return the smoothed faces seen in this frame, left to right."""
        faces = list(faces)
        # Greedy matching, best overlaps first: enough for the few faces of a webcam frame.
        pairs = sorted(
            ((box_iou(t.box, f.box), ti, fi) for ti, t in enumerate(self._tracks) for fi, f in enumerate(faces)),
            reverse=True,
        )
        used_tracks: set[int] = set()
        matched: dict[int, _Track] = {}
        for overlap, ti, fi in pairs:
            if overlap < self.iou_threshold:
                break
            if ti in used_tracks or fi in matched:
                continue
            used_tracks.add(ti)
            matched[fi] = self._tracks[ti]
        out: list[SmoothedFace] = []
        for fi, face in enumerate(faces):
            probs = np.array([float(face.probabilities[name]) for name in EMOTIONS])
            box = tuple(int(v) for v in face.box)
            track = matched.get(fi)
            if track is None:
                track = _Track(self._next_id, box, probs)  # type: ignore[arg-type]
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.probs = self.alpha * probs + (1.0 - self.alpha) * track.probs
                track.box = box  # type: ignore[assignment]
                track.missed = 0
            best = int(np.argmax(track.probs))
            out.append(
                SmoothedFace(
                    track.id, track.box, EMOTIONS[best], float(track.probs[best]),
                    {name: float(p) for name, p in zip(EMOTIONS, track.probs)},
                )
            )  # fmt: skip
        fresh = {s.track_id for s in out}
        for track in self._tracks:
            if track.id not in fresh:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        out.sort(key=lambda s: (s.box[0], s.box[1]))
        return out
