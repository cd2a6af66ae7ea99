"""Tracking faces across video frames: keep ids by position and time, smooth probabilities.

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
    """A face tracked across frames, with probabilities averaged over recent frames.

    ``track_id`` is the face's number (from 1), the one drawn on it and written in every timeline;
    ``raw_probabilities`` are this frame's own, before averaging.
    """

    track_id: int
    box: tuple[int, int, int, int]
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    raw_probabilities: dict[str, float] | None = None
    detection_score: float | None = None


class FaceSmoother:
    """Exponential moving average of each face's probabilities, with ids from a :class:`FaceTracker`.

    Faces keep their ids as on the Video page: a face that leaves and comes back within
    ``max_gap_s`` seconds gets its id, and its average, back. The label shown is the arg-max of the
    averaged probabilities, so a single odd frame does not flip it.
    """

    def __init__(self, *, alpha: float = 0.35, max_gap_s: float = 3.0) -> None:
        """Args:
        alpha: weight of the newest frame, in (0, 1]; 1 turns smoothing off.
        max_gap_s: seconds a face may be gone and keep its id.
        """
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1] (1 = no smoothing), got {alpha}")
        self.alpha = float(alpha)
        self.tracker = FaceTracker(max_gap_s=max_gap_s)
        self._averages: dict[int, tuple[float, np.ndarray]] = {}  # id -> (last seen, average)

    def reset(self) -> None:
        """Forget every face; ids start again at 1."""
        self.tracker = FaceTracker(max_gap_s=self.tracker.max_gap_s)
        self._averages = {}

    def update(self, faces: Iterable[_Face], *, time_s: float) -> list[SmoothedFace]:
        """Feed the faces of the frame taken at ``time_s`` seconds; return them smoothed, left to right."""
        faces = list(faces)
        ids = self.tracker.update(time_s, [face.box for face in faces])
        gap = self.tracker.max_gap_s
        self._averages = {i: seen for i, seen in self._averages.items() if time_s - seen[0] <= gap}
        out: list[SmoothedFace] = []
        for face_id, face in zip(ids, faces):
            probs = np.array([float(face.probabilities[name]) for name in EMOTIONS])
            previous = self._averages.get(face_id)
            average = probs if previous is None else self.alpha * probs + (1.0 - self.alpha) * previous[1]
            self._averages[face_id] = (time_s, average)
            best = int(np.argmax(average))
            score = getattr(face, "detection_score", None)
            box: tuple[int, int, int, int] = tuple(int(v) for v in face.box)  # type: ignore[assignment]
            out.append(
                SmoothedFace(
                    face_id, box, EMOTIONS[best], float(average[best]),
                    {name: float(p) for name, p in zip(EMOTIONS, average)},
                    {name: float(p) for name, p in zip(EMOTIONS, probs)},
                    None if score is None else float(score),
                )
            )  # fmt: skip
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
    next id, left to right; ids start at 1, the number drawn on the face. Identity is positional
    only: a different person stepping into the spot a face left within ``max_gap_s`` inherits its id.
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
        self._next_id = 1

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
