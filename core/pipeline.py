"""The photo pipeline's choices, as one typed options object, and the one place a photo detector is built.

:class:`PhotoOptions` holds everything a caller may choose (the model or its role, the face detector,
its score threshold, the smallest face, YuNet's small-faces pass, test-time augmentation, the crop
margin, crops instead of detection); what it leaves out is the pipeline's default:

- the face detector: :data:`STILL_DETECTOR` (YuNet, at its scales :data:`core.detection.YUNET_SCALES`);
- the score threshold: the detector's own (:func:`default_min_score`: YuNet 0.6, BlazeFace 0.6,
  MTCNN 0.9, Haar 0). ``min_score`` is given to the detector itself, so a lower value finds the
  less sure faces a detector would otherwise drop, and the app's "Minimum face confidence", ``predict
  --min-score``, ``video --min-score`` and ``python -m batch --min-score`` mean one thing;
- the crop: faces with landmarks are levelled and framed like FER2013's faces
  (:data:`core.preprocess.FER_FRAMING`), others cut from the box with its margin;
- the model's own test-time augmentation, chosen on PublicTest by ``training.evaluate
  --choose-tta`` and recorded in its ``metadata.json`` (:func:`model_tta`);
- people's faces only: the boxes a detector is not sure of get a second look from the face
  verifier (:mod:`core.verifier`), which drops animals and objects; ``verify=False`` keeps them.

:func:`photo_detector` builds the detector of a :class:`PhotoOptions`; :func:`core.factory.build_recognizer`
builds the recognizer around it. The command line, the app and the batch job build through them, and
so does :meth:`core.recognizer.EmotionRecognizer.detector` for a detector given by name. Live video
builds its detector with :func:`live_detector`: the detector's video preset
(:func:`core.detection.video_detector`) with the verifier's stricter live threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.model_store import check_role
from core.preprocess import TTA_MODES, tta_mode

if TYPE_CHECKING:
    from core.detection import FaceDetector

STILL_DETECTOR: str = "yunet"
"""The face detector for still photos when none is named (CLI, app, batch job, tests)."""


@dataclass(frozen=True)
class PhotoOptions:
    """How to read photos: the model and the detector, with every choice checked here once.

    ``None`` (or ``False``) leaves a choice to the pipeline's default (see the module's docstring).

    Attributes:
        model: a model directory, or a name under ``models/``; ``None``: the model of ``role``.
        role: the model role (:data:`core.model_store.ROLES`) whose model serves when ``model`` is ``None``.
        detector: a name from :data:`core.detection.DETECTORS`; ``None``: :data:`STILL_DETECTOR`.
        min_score: keep faces the detector scores at least this (0..1), given to the detector itself;
            ``None``: the detector's own threshold (:func:`default_min_score`).
        min_face_size: ignore faces smaller than this many pixels; ``None``: the detector's own.
        small_faces: YuNet's full-resolution tile pass for faces down to about 20 px (YuNet only).
        tta: one of :data:`core.preprocess.TTA_MODES`; ``None``: the model's own choice (:func:`model_tta`).
        margin: crop margin, a fraction of the face box; ``None``: the recognizer's.
        crops: each image is already one face: no detector (and no detector option) at all.
        verify: give the boxes the detector is not sure of the face verifier's second look
            (:mod:`core.verifier`), so animals and objects are not read; ``False`` keeps every box.

    Values the detector or the recognizer take (``min_face_size``, ``margin``) are checked when they are built.

    Raises:
        ValueError: an unknown role, detector or TTA mode, ``min_score`` out of 0..1, ``small_faces`` with
            another detector than YuNet, ``verify`` not a bool, or a detector option with ``crops``.
    """

    model: str | Path | None = None
    role: str = "default"
    detector: str | None = None
    min_score: float | None = None
    min_face_size: int | None = None
    small_faces: bool = False
    tta: str | None = None
    margin: float | None = None
    crops: bool = False
    verify: bool = True

    def __post_init__(self) -> None:
        from core.detection import check_score, detector_name  # noqa: PLC0415 - keeps this module import-light

        check_role(self.role)
        if self.detector is not None:
            object.__setattr__(self, "detector", detector_name(self.detector))
        if self.min_score is not None:
            check_score(self.min_score)
        if self.tta is not None:
            object.__setattr__(self, "tta", tta_mode(self.tta))
        if not isinstance(self.verify, bool):
            raise ValueError(f"verify must be True or False, got {self.verify!r}")
        if self.crops and (
            self.detector is not None or self.min_score is not None or self.min_face_size is not None or self.small_faces
            or not self.verify
        ):
            raise ValueError(
                "crops skips face detection: it takes no detector, min_score, min_face_size, small_faces or verify=False"
            )
        if self.small_faces and self.detector_name != STILL_DETECTOR:
            raise ValueError(f"small_faces is YuNet's; the {self.detector_name} detector has no such pass")

    @property
    def detector_name(self) -> str:
        """The detector these options ask for: ``detector``, else :data:`STILL_DETECTOR`."""
        return self.detector or STILL_DETECTOR


def default_min_score(detector: str | None = None) -> float:
    """A detector's own score threshold for photos (``None``: :data:`STILL_DETECTOR`'s), what it keeps when not told.

    Raises:
        ValueError: an unknown detector.
    """
    from core.detection import DETECTORS, detector_name  # noqa: PLC0415

    return float(DETECTORS[STILL_DETECTOR if detector is None else detector_name(detector)].default_min_score)


def photo_detector(options: PhotoOptions | None = None) -> FaceDetector:
    """A new still-photo detector for ``options`` (``None``: the default one): the one place the product builds one.

    With ``options.verify`` (the default) it is wrapped in :class:`core.verifier.VerifiedDetector`.

    Raises:
        ValueError: ``options`` say ``crops`` (no detector), or a bad option value.
        core.errors.ModelLoadError: the detector's or the verifier's model file is missing or unusable.
    """
    from core.detection import get_detector  # noqa: PLC0415
    from core.verifier import verified  # noqa: PLC0415

    options = options or PhotoOptions()
    if options.crops:
        raise ValueError("crops skips face detection: there is no detector to build")
    kwargs: dict[str, Any] = {}
    if options.min_score is not None:
        kwargs["min_score"] = float(options.min_score)
    if options.min_face_size is not None:
        kwargs["min_face_size"] = int(options.min_face_size)
    if options.small_faces:
        kwargs["small_faces"] = True
    detector = get_detector(options.detector_name, **kwargs)
    return verified(detector) if options.verify else detector


def live_detector(name: str | None = None, *, verify: bool = True) -> FaceDetector:
    """A detector for live video: ``name``'s video preset (:func:`core.detection.video_detector`; ``None``: the
    webcam default), with the face verifier's second look at its live threshold
    (:data:`core.verifier.VIDEO_THRESHOLD`) unless ``verify`` is ``False``.

    Raises:
        ValueError: an unknown detector.
        core.errors.ModelLoadError: a model file is missing or unusable.
    """
    from core.detection import video_detector  # noqa: PLC0415
    from core.verifier import VIDEO_THRESHOLD, verified  # noqa: PLC0415

    detector = video_detector(name)
    return verified(detector, threshold=VIDEO_THRESHOLD) if verify else detector


def still_detector(**options: Any) -> FaceDetector:
    """A bare :data:`STILL_DETECTOR` with any of its own options (``checks``, ``scales``...), for experiments.

    Benchmarks and fits time or probe YuNet with settings the product never uses; the product builds
    its detectors with :func:`photo_detector`.

    Raises:
        ValueError: a bad option value.
        TypeError: an option the detector does not take.
    """
    from core.detection import get_detector  # noqa: PLC0415

    return get_detector(STILL_DETECTOR, **options)


def model_tta(metadata: dict[str, Any] | None) -> str:
    """The test-time augmentation chosen on PublicTest for a model (``training.evaluate --choose-tta``), else ``none``."""
    choice = (metadata or {}).get("tta")
    chosen = choice.get("chosen") if isinstance(choice, dict) else None
    return chosen if chosen in TTA_MODES else "none"
