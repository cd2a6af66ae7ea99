"""The default photo pipeline's choices, shared by the command line, the app and video files.

One place decides what a still image gets when the caller does not say: the model's own
test-time augmentation, chosen on PublicTest by ``training.evaluate --choose-tta`` and recorded in
its ``metadata.json``.
"""

from __future__ import annotations

from typing import Any

from core.preprocess import TTA_MODES


def model_tta(metadata: dict[str, Any] | None) -> str:
    """The test-time augmentation chosen on PublicTest for a model (``training.evaluate --choose-tta``), else ``none``."""
    choice = (metadata or {}).get("tta")
    chosen = choice.get("chosen") if isinstance(choice, dict) else None
    return chosen if chosen in TTA_MODES else "none"
