"""A grouped view of the seven emotions: the same probabilities summed into coarser groups.

A :class:`Grouping` names its groups and the emotions in each (every emotion in exactly one
group, so group probabilities sum to 1 like the emotions'); a face's group is the most probable
group, which may differ from the group of its most probable emotion (angry 0.3, fear 0.3,
happy 0.4 is *negative*). The named groupings and the default live beside the label list in
:mod:`core.labels`.

A grouping is written ``default`` (a name from :data:`core.labels.GROUPINGS`) or as a spec
``NAME=EMOTION+EMOTION,NAME=EMOTION,...``, e.g.
``positive=happy,negative=angry+disgust+fear+sad,neutral=neutral,surprise=surprise``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.labels import DEFAULT_GROUPS, EMOTIONS, GROUPINGS

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
SPEC_HELP = "NAME=EMOTION+EMOTION,NAME=EMOTION,... (e.g. positive=happy,negative=angry+disgust+fear+sad,...)"


@dataclass(frozen=True)
class Grouping:
    """Named groups of emotions; every emotion of :data:`core.labels.EMOTIONS` in exactly one group.

    Attributes:
        groups: ``((group name, (emotion, ...)), ...)`` in display order.
        name: the grouping's name when it is a named one (``"default"``), else ``"custom"``.
    """

    groups: tuple[tuple[str, tuple[str, ...]], ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        _check(self.groups)

    @property
    def names(self) -> tuple[str, ...]:
        """Group names in display order."""
        return tuple(name for name, _ in self.groups)

    def spec(self) -> str:
        """The grouping written as :func:`parse_groups` reads it."""
        return ",".join(f"{name}={'+'.join(members)}" for name, members in self.groups)

    def matrix(self) -> np.ndarray:
        """``(7, G)`` 0/1 matrix: emotion ``i`` (label order) belongs to group ``j``."""
        out = np.zeros((len(EMOTIONS), len(self.groups)))
        for j, (_, members) in enumerate(self.groups):
            for emotion in members:
                out[EMOTIONS.index(emotion), j] = 1.0
        return out

    def sum_array(self, probabilities: np.ndarray) -> np.ndarray:
        """``(N, 7)`` emotion probabilities in label order -> ``(N, G)`` group probabilities."""
        return np.asarray(probabilities, dtype=np.float64).reshape(-1, len(EMOTIONS)) @ self.matrix()

    def sum(self, probabilities: Mapping[str, float]) -> dict[str, float]:
        """``{group: summed probability}`` of one face's ``{emotion: probability}``."""
        return {name: float(sum(probabilities[e] for e in members)) for name, members in self.groups}

    def group_of(self, probabilities: Mapping[str, float]) -> str:
        """The most probable group of one face (the first in display order on a tie)."""
        summed = self.sum(probabilities)
        return max(self.names, key=lambda name: summed[name])


def parse_groups(spec: str | Grouping) -> Grouping:
    """A grouping from a name in :data:`core.labels.GROUPINGS` or a ``NAME=EMOTION+EMOTION,...`` spec.

    Raises:
        ValueError: an unknown name or emotion, an emotion in no group or in two, an empty or
            repeated group name; the message lists what is allowed.
    """
    if isinstance(spec, Grouping):
        return spec
    text = str(spec).strip()
    if text.lower() in GROUPINGS:
        return Grouping(GROUPINGS[text.lower()], name=text.lower())
    if "=" not in text:
        raise ValueError(
            f"unknown grouping {text!r}; use one of {', '.join(GROUPINGS)} or a spec {SPEC_HELP}"
        )
    groups = []
    for part in text.split(","):
        name, sep, members = part.partition("=")
        if not sep:
            raise ValueError(f"group {part.strip()!r} has no '='; write each group as NAME=EMOTION+EMOTION")
        emotions = tuple(m.strip().lower() for m in members.split("+") if m.strip())
        groups.append((name.strip(), emotions))
    return Grouping(tuple(groups))


def _check(groups: Sequence[tuple[str, Sequence[str]]]) -> None:
    if not groups:
        raise ValueError(f"a grouping needs at least one group; write {SPEC_HELP}")
    seen_names: set[str] = set()
    placed: dict[str, str] = {}
    for name, members in groups:
        if not _NAME.match(name):
            raise ValueError(
                f"group name {name!r} must start with a letter and hold only letters, digits, '_' and '-'"
            )
        if name in seen_names:
            raise ValueError(f"group name {name!r} is used twice; each group needs its own name")
        seen_names.add(name)
        if not members:
            raise ValueError(f"group {name!r} has no emotions; give one or more of {', '.join(EMOTIONS)}")
        for emotion in members:
            if emotion not in EMOTIONS:
                raise ValueError(f"unknown emotion {emotion!r} in group {name!r}; allowed: {', '.join(EMOTIONS)}")
            if emotion in placed:
                raise ValueError(f"emotion {emotion!r} is in groups {placed[emotion]!r} and {name!r}; put it in one")
            placed[emotion] = name
    missing = [e for e in EMOTIONS if e not in placed]
    if missing:
        raise ValueError(
            f"emotions in no group: {', '.join(missing)}; every one of {', '.join(EMOTIONS)} must be in a group"
        )


DEFAULT_GROUPING = Grouping(DEFAULT_GROUPS, name="default")
"""positive = happy; negative = angry, disgust, fear, sad; neutral; surprise."""
