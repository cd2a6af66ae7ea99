"""The one list of emotion classes, in FER2013 label order (label ``i`` is ``EMOTIONS[i]``)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES: int = len(EMOTIONS)

# Input geometry of every FER2013 model: 48x48 grayscale.
FACE_SIZE: int = 48

