"""The default photo pipeline's choices, shared by the command line, the app and video files.

One place decides what a still image gets when the caller does not say:

- the face detector: :data:`STILL_DETECTOR` (YuNet) with :data:`STILL_DETECTOR_OPTIONS` (its
  default scales and score threshold, :data:`core.detection.YUNET_SCALES` and
  :data:`core.detection.YUNET_MIN_SCORE`), built by :func:`still_detector`;
- the crop: faces with landmarks are levelled and framed like FER2013's faces
  (:data:`core.preprocess.FER_FRAMING`), others cut from the box with its margin;
- the model's own test-time augmentation, chosen on PublicTest by ``training.evaluate
  --choose-tta`` and recorded in its ``metadata.json`` (:func:`model_tta`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from core.preprocess import TTA_MODES

STILL_DETECTOR: str = "yunet"
"""The face detector for still photos (CLI ``predict``, the upload page, the tests' defaults)."""

STILL_DETECTOR_OPTIONS: Mapping[str, Any] = MappingProxyType({})
"""Options for :data:`STILL_DETECTOR` beyond its own defaults (none: its defaults are the choice)."""


def still_detector(**options: Any) -> Any:
    """A new still-photo detector: :data:`STILL_DETECTOR` with :data:`STILL_DETECTOR_OPTIONS`; ``options`` win.

    Raises:
        ValueError: a bad option value.
        TypeError: an option the detector does not take.
    """
    from core.detection import get_detector  # noqa: PLC0415 - keeps this module import-light

    return get_detector(STILL_DETECTOR, **{**STILL_DETECTOR_OPTIONS, **options})


def model_tta(metadata: dict[str, Any] | None) -> str:
    """The test-time augmentation chosen on PublicTest for a model (``training.evaluate --choose-tta``), else ``none``."""
    choice = (metadata or {}).get("tta")
    chosen = choice.get("chosen") if isinstance(choice, dict) else None
    return chosen if chosen in TTA_MODES else "none"
