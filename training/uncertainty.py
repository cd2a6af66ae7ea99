"""Choose a model's uncertainty rule (:class:`core.uncertainty.UncertaintyRule`) on labelled faces.

The rule should mark a face exactly where its top emotion is wrong more often than right. So each
candidate pair of thresholds is scored by the faces it gets right: an unmarked face whose top
emotion is correct, plus a marked face whose top emotion is wrong. The best pair that marks at most
``max_fraction`` of the faces wins; on a tie, the one marking fewer faces, then the lower
thresholds. A threshold of 0 switches its half of the rule off, so a confidence-only or a
margin-only rule is among the candidates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.labels import EMOTIONS
from core.uncertainty import UncertaintyRule, rule_stats

MAX_MARKED_FRACTION = 0.2
THRESHOLD_STEP = 0.01


def choose_rule(
    probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    max_fraction: float = MAX_MARKED_FRACTION,
    step: float = THRESHOLD_STEP,
    source: str = "PublicTest",
) -> tuple[UncertaintyRule, dict[str, Any]]:
    """The thresholds that best separate wrong top emotions from right ones, marking at most ``max_fraction``.

    Args:
        probabilities: ``(N, 7)`` probabilities in label order.
        labels: ``(N,)`` true class indices.
        max_fraction: most faces the rule may mark (0..1).
        step: grid spacing of both thresholds, from 0 up to 1.

    Returns:
        ``(rule, stats)``: the rule, and :func:`core.uncertainty.rule_stats` on these faces plus
        ``"score"`` (faces the rule gets right, as above) and ``"max_fraction"``.

    Raises:
        ValueError: mismatched or empty inputs, or an option out of range.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if probs.ndim != 2 or probs.shape[1] != len(EMOTIONS) or len(probs) != len(y) or not len(y):
        raise ValueError(f"expected (N, {len(EMOTIONS)}) probabilities and N labels, N > 0; got {probs.shape} and {y.shape}")
    if not 0.0 <= max_fraction <= 1.0:
        raise ValueError(f"max_fraction must be between 0 and 1, got {max_fraction}")
    if not 0.0 < step <= 1.0:
        raise ValueError(f"step must be in (0, 1], got {step}")
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 6)
    top2 = np.sort(probs, axis=1)[:, -2:]
    top, margin = top2[:, 1], top2[:, 1] - top2[:, 0]
    correct = probs.argmax(axis=1) == y
    limit = int(np.floor(max_fraction * len(y) + 1e-9))
    close = margin[:, None] < grid[None, :]  # (N, M): marked by the margin threshold grid[j]
    best: tuple[Any, ...] | None = None
    for t in grid:
        marked = close | (top < t)[:, None]
        counts = marked.sum(axis=0)
        scores = (correct[:, None] & ~marked).sum(axis=0) + (~correct[:, None] & marked).sum(axis=0)
        for j in np.flatnonzero(counts <= limit):
            key = (-int(scores[j]), int(counts[j]), float(t), float(grid[j]))
            if best is None or key < best:
                best = key
    assert best is not None  # t = m = 0 marks nothing, always within the limit
    rule = UncertaintyRule(min_confidence=best[2], min_margin=best[3], source=source)
    return rule, {**rule_stats(rule, probs, y), "score": -best[0], "max_fraction": max_fraction}
