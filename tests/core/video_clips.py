"""Tiny video clips made at test time with PyAV, and a fake detector and recognizer that read them.

Faces are bright squares on a dark frame: white (255) ones are "happy", light gray (215) ones "sad".
The fake detector finds squares as connected bright blobs, so two squares that overlap become one
detection, as two real faces crossing do.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from core.detection import Detection
from core.labels import EMOTIONS
from core.recognizer import FaceResult

HAPPY, SAD = 255, 215
SIZE = 40


def scene(squares: Sequence[tuple[int, int, int]], *, width: int = 320, height: int = 160) -> np.ndarray:
    """A dark BGR frame with ``(x, y, value)`` squares of :data:`SIZE` pixels (clipped at the edges)."""
    frame = np.full((height, width, 3), 30, np.uint8)
    for x, y, value in squares:
        frame[max(0, y) : max(0, y + SIZE), max(0, x) : max(0, x + SIZE)] = value
    return frame


def write_clip(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    fps: int = 10,
    times_s: Sequence[float] | None = None,
    rotation: int | None = None,
    faststart: bool = False,
) -> Path:
    """Encode BGR frames as H.264 MP4; ``times_s`` gives each frame's own timestamp (variable rate)."""
    import av  # noqa: PLC0415

    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "bf": "0"})
        height, width = frames[0].shape[:2] if frames else (64, 64)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if times_s is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        container.start_encoding()  # so a clip of no frames is still written
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            if times_s is not None:
                frame.pts, frame.time_base = round(times_s[index] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class SquareDetector:
    """Finds bright squares: each connected blob brighter than 150 is one face, score 0.9."""

    name = "squares"

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        count, _labels, stats, _centres = cv2.connectedComponentsWithStats((gray > 150).astype(np.uint8))
        found = [
            Detection((int(x), int(y), int(w), int(h)), 0.9)
            for x, y, w, h, area in stats[1:count]
            if area >= 20
        ]
        return sorted(found, key=lambda d: d.box)


class SquareRecognizer:
    """The two methods :func:`core.video.analyse_video` uses; a box's brightness decides its emotion."""

    def __init__(self) -> None:
        self.calls = 0

    def detector(self, detector: object = None) -> object:
        return SquareDetector() if detector is None else detector

    def predict_faces(self, image_bgr: np.ndarray, detections: Sequence[Detection], **_options: object) -> list[FaceResult]:
        self.calls += 1
        out = []
        for detection in detections:
            x, y, w, h = detection.box
            happy = float(np.median(image_bgr[y : y + h, x : x + w])) > (HAPPY + SAD) / 2
            winner = "happy" if happy else "sad"
            probs = {name: (0.7 if name == winner else 0.05) for name in EMOTIONS}
            out.append(FaceResult(detection.box, detection.score, winner, 0.7, probs))
        return out
