"""The one list of emotion classes, in FER2013 label order (label ``i`` is ``EMOTIONS[i]``)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES: int = len(EMOTIONS)

# Input geometry of every FER2013 model: 48x48 grayscale.
FACE_SIZE: int = 48


def label_index(name: str) -> int:
    """Return the FER2013 label index of an emotion name (case-insensitive).

    Raises:
        ValueError: if ``name`` is not one of :data:`EMOTIONS`.
    """
    key = name.strip().lower()
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)
