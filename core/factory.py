"""The one way to build a recognizer for photos and video: ``build_recognizer(PhotoOptions(...))``.

``python -m core predict`` and ``video``, the app and the batch job all build here, from one
:class:`core.pipeline.PhotoOptions`, so a choice (the model, the detector, ``min_score``...) means the
same everywhere. The detector comes from :func:`core.pipeline.photo_detector`, the one place a photo
detector is built. (This module is apart from :mod:`core.pipeline` because the recognizer itself builds
a detector named to it through that module: arrows run ``factory -> recognizer -> pipeline``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core import pipeline
from core.pipeline import PhotoOptions, photo_detector

if TYPE_CHECKING:
    from core.recognizer import EmotionRecognizer

__all__ = ["PhotoOptions", "build_recognizer", "photo_detector"]


def build_recognizer(options: PhotoOptions | None = None) -> EmotionRecognizer:
    """The recognizer ``options`` ask for (``None``: every default), with its detector and TTA.

    The model is ``options.model``, else the model of ``options.role``; the detector is
    :func:`core.pipeline.photo_detector`'s for ``options`` (none with ``crops``); the TTA is
    ``options.tta``, else the model's own choice (:func:`core.pipeline.model_tta`).

    Raises:
        core.errors.ModelLoadError: the model (or the detector's model file) cannot be used.
        ValueError, TypeError: a bad option value.
    """
    from core.model_store import resolve_model_dir  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415 - loads the model's runtime

    options = options or PhotoOptions()
    extra: dict[str, Any] = {}
    if not options.crops:
        extra["detector"] = photo_detector(options)
    if options.margin is not None:
        extra["margin"] = options.margin
    model = options.model if options.model is not None else resolve_model_dir(None, role=options.role)
    recognizer = EmotionRecognizer.from_dir(model, **extra)
    recognizer.tta = options.tta if options.tta is not None else pipeline.model_tta(recognizer.metadata)
    return recognizer
