"""When to say the model is unsure of a face, and how to say it.

An :class:`UncertaintyRule` flags a face whose top two emotions are close (their probabilities
differ by less than ``min_margin``: shown as ``"sad or neutral"``) or whose top emotion is weak
(below ``min_confidence``: shown as ``"uncertain"``). Each model's rule is chosen on PublicTest
(``training.evaluate --choose-uncertainty``) and stored under ``"uncertainty"`` in its
``metadata.json``; a model without one gets :data:`DEFAULT_RULE`.

The outputs keep every probability and add the flag: ``uncertain`` is ``"close"``, ``"weak"`` or
empty, and ``label`` is what a person reads (the emotion, ``"A or B"`` or ``"uncertain"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from core.labels import EMOTIONS

CLOSE = "close"
WEAK = "weak"
UNCERTAIN_LABEL = "uncertain"
METADATA_KEY = "uncertainty"


class Certainty(NamedTuple):
    """What the rule says of one face.

    Attributes:
        flag: ``"close"`` (top two within ``min_margin``), ``"weak"`` (top below
            ``min_confidence``) or ``None`` (sure enough).
        label: what to show: the emotion, ``"sad or neutral"`` or ``"uncertain"``.
    """

    flag: str | None
    label: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form ``{"uncertain": "close" | "weak" | None, "label": ...}``."""
        return {"uncertain": self.flag, "label": self.label}


@dataclass(frozen=True)
class UncertaintyRule:
    """Flag a face when its top two emotions are close or its top emotion is weak.

    Attributes:
        min_confidence: a top probability below this is weak (0 never flags).
        min_margin: a top-two difference below this is close (0 never flags).
        source: where the thresholds come from: ``"PublicTest"`` when chosen for the model,
            ``"default"`` for :data:`DEFAULT_RULE`.
    """

    min_confidence: float = 0.4
    min_margin: float = 0.1
    source: str = "default"

    def __post_init__(self) -> None:
        for name in ("min_confidence", "min_margin"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> UncertaintyRule:
        """The rule recorded in a model's metadata; :data:`DEFAULT_RULE` when it has none or a broken one."""
        stored = (metadata or {}).get(METADATA_KEY)
        if not isinstance(stored, Mapping):
            return DEFAULT_RULE
        try:
            source = str(stored.get("split", "PublicTest"))
            return cls(float(stored["min_confidence"]), float(stored["min_margin"]), source)
        except (KeyError, TypeError, ValueError):
            return DEFAULT_RULE

    def flags(self, probabilities: np.ndarray) -> np.ndarray:
        """``(N, 7)`` probabilities -> ``(N,)`` strings ``"close"``, ``"weak"`` or ``""``."""
        probs = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(EMOTIONS))
        top2 = np.sort(probs, axis=1)[:, -2:]
        close = top2[:, 1] - top2[:, 0] < self.min_margin
        weak = top2[:, 1] < self.min_confidence
        return np.where(close, CLOSE, np.where(weak, WEAK, ""))

    def assess(self, probabilities: Mapping[str, float]) -> Certainty:
        """The flag and the label of one face's ``{emotion: probability}``.

        Close comes first: ``"sad or neutral"`` says more than ``"uncertain"`` when both hold.
        """
        ranked = sorted(EMOTIONS, key=lambda name: -float(probabilities[name]))
        flag = str(self.flags(np.array([[float(probabilities[name]) for name in EMOTIONS]]))[0]) or None
        if flag == CLOSE:
            return Certainty(CLOSE, f"{ranked[0]} or {ranked[1]}")
        if flag == WEAK:
            return Certainty(WEAK, UNCERTAIN_LABEL)
        return Certainty(None, ranked[0])

    def describe(self) -> str:
        """One line for people: the thresholds and where they come from."""
        where = "chosen on PublicTest" if self.source != "default" else "the default; not chosen for this model"
        return (
            f"'A or B' when the top two are within {self.min_margin:.0%}, 'uncertain' when the top one is "
            f"below {self.min_confidence:.0%} ({where})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored in ``metadata.json`` (without the choice's statistics)."""
        data = asdict(self)
        data["split"] = data.pop("source")
        return data


DEFAULT_RULE = UncertaintyRule()
"""For a model without a chosen rule: close under 10 points, weak under 40%."""


def rule_stats(rule: UncertaintyRule, probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """How the rule does on labelled faces: faces marked, and accuracy of the marked and the rest.

    Returns:
        ``{"n", "marked", "marked_fraction", "accuracy", "accuracy_unmarked", "accuracy_marked"}``
        (an accuracy is ``None`` when it covers no face).
    """
    probs = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(EMOTIONS))
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(probs):
        raise ValueError(f"got {len(probs)} probability rows but {len(y)} labels")
    correct = probs.argmax(axis=1) == y
    marked = rule.flags(probs) != ""

    def share(mask: np.ndarray) -> float | None:
        return float(correct[mask].mean()) if mask.any() else None

    return {
        "n": int(len(y)),
        "marked": int(marked.sum()),
        "marked_fraction": float(marked.mean()) if len(y) else 0.0,
        "accuracy": share(np.ones_like(marked)),
        "accuracy_unmarked": share(~marked),
        "accuracy_marked": share(marked),
    }
