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


class _VideoTrack:
    __slots__ = ("id", "box", "velocity", "last_time")

    def __init__(self, track_id: int, box: tuple[int, int, int, int], time_s: float) -> None:
        self.id = track_id
        self.box = box
        self.velocity = (0.0, 0.0)  # centre motion, pixels per second
        self.last_time = time_s


def _centre(box: Sequence[float]) -> tuple[float, float]:
    return (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)


class FaceTracker:
    """Stable face ids across a video, by position and time rather than by frame count.

    Each track predicts where its face is now from its recent motion, so two faces that cross keep
    their ids; a track lost for up to ``max_gap_s`` seconds (the face left the frame, turned away,
    or was hidden) takes back a face that reappears near where it was last seen. New faces get the
    next id, left to right. Identity is positional only: a different person stepping into the spot
    a face left within ``max_gap_s`` inherits its id.
    """

    def __init__(
        self,
        *,
        max_gap_s: float = 3.0,
        max_distance: float = 1.0,
        reid_distance: float = 2.5,
        max_size_ratio: float = 2.0,
        motion_horizon_s: float = 1.0,
    ) -> None:
        """Args:
        max_gap_s: seconds a track waits for its face to come back.
        max_distance: farthest, in face sizes, a face may be from a track's predicted centre.
        reid_distance: the same for a track unseen for longer than ``motion_horizon_s``.
        max_size_ratio: largest change of face size (long side) between a track and a face.
        motion_horizon_s: how long a lost track is moved along its last motion before it waits
            where it was last seen.
        """
        for name, value in (("max_gap_s", max_gap_s), ("motion_horizon_s", motion_horizon_s)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {value}")
        for name, value in (("max_distance", max_distance), ("reid_distance", reid_distance)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0 (in face sizes), got {value}")
        if not max_size_ratio >= 1:
            raise ValueError(f"max_size_ratio must be >= 1, got {max_size_ratio}")
        self.max_gap_s = float(max_gap_s)
        self.max_distance = float(max_distance)
        self.reid_distance = float(reid_distance)
        self.max_size_ratio = float(max_size_ratio)
        self.motion_horizon_s = float(motion_horizon_s)
        self._tracks: list[_VideoTrack] = []
        self._next_id = 0

    def update(self, time_s: float, boxes: Sequence[Sequence[float]]) -> list[int]:
        """Feed the faces of the frame at ``time_s`` seconds; return their ids, in the order given."""
        boxes = [tuple(int(v) for v in box) for box in boxes]
        self._tracks = [t for t in self._tracks if time_s - t.last_time <= self.max_gap_s]
        candidates = []
        for ti, track in enumerate(self._tracks):
            gap = max(0.0, time_s - track.last_time)
            cx, cy = _centre(track.box)
            moving = gap <= self.motion_horizon_s
            if moving:
                cx, cy = cx + track.velocity[0] * gap, cy + track.velocity[1] * gap
            size = max(track.box[2], track.box[3], 1)
            gate = self.max_distance if moving else self.reid_distance
            for bi, box in enumerate(boxes):
                other = max(box[2], box[3], 1)
                if max(size, other) / min(size, other) > self.max_size_ratio:
                    continue
                bx, by = _centre(box)
                distance = float(np.hypot(bx - cx, by - cy)) / size
                if distance <= gate:
                    candidates.append((distance, ti, bi))
        candidates.sort()
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for _distance, ti, bi in candidates:
            if ti in used or ids[bi] is not None:
                continue
            used.add(ti)
            track = self._tracks[ti]
            self._move(track, boxes[bi], time_s)  # type: ignore[arg-type]
            ids[bi] = track.id
        for bi in sorted((i for i, v in enumerate(ids) if v is None), key=lambda i: (boxes[i][0], boxes[i][1])):
            track = _VideoTrack(self._next_id, boxes[bi], time_s)  # type: ignore[arg-type]
            self._next_id += 1
            self._tracks.append(track)
            ids[bi] = track.id
        return ids  # type: ignore[return-value]

    @staticmethod
    def _move(track: _VideoTrack, box: tuple[int, int, int, int], time_s: float) -> None:
        gap = time_s - track.last_time
        old_w, old_h = track.box[2], track.box[3]
        same_size = 0.77 <= box[2] / max(old_w, 1) <= 1.3 and 0.77 <= box[3] / max(old_h, 1) <= 1.3
        # A box that jumps in size (two faces merged into one detection, a face half out of the
        # frame) says little about motion: keep the track's last motion then.
        if gap > 0 and same_size:
            (ox, oy), (nx, ny) = _centre(track.box), _centre(box)
            vx, vy = (nx - ox) / gap, (ny - oy) / gap
            track.velocity = (0.5 * track.velocity[0] + 0.5 * vx, 0.5 * track.velocity[1] + 0.5 * vy)
        track.box = box
        track.last_time = time_s
