"""The one list of emotion classes, in FER2013 label order (label ``i`` is ``EMOTIONS[i]``)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES: int = len(EMOTIONS)

FER2013_TERMS: str = (
    "research use only: learnt from FER2013, which has no explicit licence and is meant for research use"
)
"""What a user may do with weights learnt from FER2013 (``terms_of_use`` in a model's metadata)."""

# Input geometry of every FER2013 model: 48x48 grayscale.
FACE_SIZE: int = 48

