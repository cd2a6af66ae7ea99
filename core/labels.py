"""The one list of emotion classes, in FER2013 label order (label ``i`` is ``EMOTIONS[i]``)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES: int = len(EMOTIONS)

# Input geometry of every FER2013 model: 48x48 grayscale.
FACE_SIZE: int = 48


# Coarser views of the seven classes: each group's probability is the sum of its emotions'
# probabilities, and a face's group is the most probable group (see core.groups). Every emotion
# belongs to exactly one group of a grouping.
DEFAULT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("positive", ("happy",)),
    ("negative", ("angry", "disgust", "fear", "sad")),
    ("neutral", ("neutral",)),
    ("surprise", ("surprise",)),
)
# Named groupings a person can pick by name (CLI ``--groups default``, the app's grouped view).
GROUPINGS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {"default": DEFAULT_GROUPS}
