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


# What people name their emotion folders and labels: the class names, their nouns and adjectives,
# and a few common near-synonyms. Keys are lower case, with spaces and dashes as underscores.
EMOTION_SYNONYMS: dict[str, str] = {
    **{emotion: emotion for emotion in EMOTIONS},
    "anger": "angry", "mad": "angry", "annoyed": "angry", "furious": "angry", "rage": "angry",
    "disgusted": "disgust", "revulsion": "disgust", "disgusting": "disgust",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "scary": "fear", "frightened": "fear",
    "terrified": "fear", "anxious": "fear",
    "happiness": "happy", "joy": "happy", "joyful": "happy", "smile": "happy", "smiling": "happy",
    "sadness": "sad", "unhappy": "sad", "sorrow": "sad", "crying": "sad",
    "surprised": "surprise", "surprising": "surprise", "shocked": "surprise", "astonished": "surprise",
    "calm": "neutral", "no_emotion": "neutral", "expressionless": "neutral", "relaxed": "neutral",
}  # fmt: skip


def parse_emotion(word: str) -> str | None:
    """The emotion of :data:`EMOTIONS` a folder name or label names (case, dashes, spaces and a
    leading number such as ``3_happy`` ignored), or ``None`` when it names none of ours.

    >>> parse_emotion("Happiness"), parse_emotion("02-scared"), parse_emotion("contempt")
    ('happy', 'fear', None)
    """
    key = "_".join(word.strip().lower().replace("-", " ").replace("_", " ").split())
    key = key.lstrip("0123456789_.")
    return EMOTION_SYNONYMS.get(key)


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
