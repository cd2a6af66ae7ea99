"""How a face's probabilities read at the output edge: the uncertainty flag and, on request, the group.

The JSON and CSV outputs (``python -m core predict``, video timelines, the app's downloads) keep
every probability and add what a :class:`Readout` says: ``uncertain`` (``"close"``, ``"weak"`` or
empty) and ``label`` (the emotion, ``"sad or neutral"`` or ``"uncertain"``), then, with a grouping,
``group`` (the most probable group) and each group's summed probability.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.groups import SPEC_HELP, Grouping, parse_groups
from core.uncertainty import DEFAULT_RULE, UncertaintyRule

FLAG_COLUMNS: tuple[str, ...] = ("uncertain", "label")


@dataclass(frozen=True)
class Readout:
    """The model's uncertainty rule and an optional grouping, applied to one face at a time."""

    rule: UncertaintyRule = field(default=DEFAULT_RULE)
    grouping: Grouping | None = None

    def face_dict(self, probabilities: Mapping[str, float], *, ndigits: int | None = 6) -> dict[str, Any]:
        """``{"uncertain", "label"}`` plus ``{"group", "group_probabilities"}`` with a grouping."""
        data = self.rule.assess(probabilities).to_dict()
        if self.grouping is not None:
            summed = self.grouping.sum(probabilities)
            data["group"] = self.grouping.group_of(probabilities)
            data["group_probabilities"] = {n: p if ndigits is None else round(p, ndigits) for n, p in summed.items()}
        return data

    def group_columns(self, *, prefix: str = "") -> tuple[str, ...]:
        """CSV columns of the grouped view (none without a grouping)."""
        if self.grouping is None:
            return ()
        return (f"{prefix}group", *(f"{prefix}group_prob_{name}" for name in self.grouping.names))

    def group_cells(self, probabilities: Mapping[str, float] | None, *, ndigits: int = 6) -> list[Any]:
        """CSV cells for :meth:`group_columns`; empty strings for a row without a face."""
        if self.grouping is None:
            return []
        if not probabilities:
            return [""] * len(self.group_columns())
        summed = self.grouping.sum(probabilities)
        return [self.grouping.group_of(probabilities), *(round(summed[n], ndigits) for n in self.grouping.names)]


def add_groups_argument(parser: argparse.ArgumentParser) -> None:
    """``--groups SPEC``: add the grouped view (see :mod:`core.groups`) to the outputs."""
    parser.add_argument(
        "--groups", type=_grouping, metavar="SPEC",
        help="also sum the probabilities into groups and give each face its most probable group: 'default' "
        f"(positive=happy, negative=angry+disgust+fear+sad, neutral, surprise) or {SPEC_HELP}",
    )  # fmt: skip


def _grouping(text: str) -> Grouping:
    try:
        return parse_groups(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def model_readout(model: Any, grouping: Grouping | None = None) -> Readout:
    """A model's readout: its own uncertainty rule (see :mod:`core.uncertainty`) and ``grouping``.

    Args:
        model: anything with the model's ``metadata`` (a recognizer, a ``ModelInfo``); ``None``
            gives the default rule.
    """
    return Readout(UncertaintyRule.from_metadata(getattr(model, "metadata", None)), grouping)


def labelled(faces: Sequence[Any], rule: UncertaintyRule) -> list[Any]:
    """Copies of ``faces`` (``FaceResult`` or ``SmoothedFace``) whose ``emotion`` is the rule's label, for drawing.

    A face the rule flags is drawn as ``"sad or neutral"`` or ``"uncertain"`` (in the colour of no emotion).
    """
    out = []
    for face in faces:
        label = rule.assess(face.probabilities).label
        out.append(face._replace(emotion=label) if hasattr(face, "_replace") else replace(face, emotion=label))
    return out
