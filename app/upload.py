"""Analyse uploaded images in memory and turn the results into downloads (JSON, CSV, PNG).

Nothing here touches the disk: an upload is decoded from its bytes, analysed, drawn on and encoded
back to bytes. One bad file gives an :class:`UploadOutcome` with ``error`` set; the others go on.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np
from PIL import Image

from app.limits import LimitError, Limits, check_file_count, check_photo_size, check_run_pixels, read_archive
from core.annotate import annotate, mark_dropped
from core.archive import SkippedMember
from core.detection import examine
from core.errors import FERError
from core.imageio import load_image
from core.labels import EMOTIONS
from core.readout import Readout, labelled
from core.reports import ImageReport, write_csv
from core.uncertainty import UncertaintyRule

if TYPE_CHECKING:
    from core.detection import FaceDetector

UPLOAD_TYPES: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")
NO_FACE_HINT = (
    "No face found. Lower the minimum face confidence, turn on \"Find small faces\" for a large photo "
    "of small faces, try another face detector (MTCNN finds turned and partly hidden faces), or a "
    "larger, sharper photo where the face is at least about 20 pixels wide."
)


TTA_LABELS = {"none": "Off", "flip": "Flip (2 views)", "tencrop": "Ten-crop (10 views)"}


def tta_label(mode: str, chosen: str) -> str:
    """What the upload page shows for ``mode``; the model's own choice is marked."""
    label = TTA_LABELS.get(mode, mode)
    return f"{label}, chosen on PublicTest" if mode == chosen and mode != "none" else label


class _Recognizer(Protocol):
    def predict_image(self, image_bgr: np.ndarray, *, detector: str | None = None, **options: Any) -> list[Any]: ...

    def predict_faces(self, image_bgr: np.ndarray, detections: Sequence[Any], **options: Any) -> list[Any]: ...

    def detector(self, detector: Any = None) -> Any: ...


@dataclass(frozen=True)
class UploadOutcome:
    """One uploaded file: the image, its faces and the annotated copy; or the error that stopped it."""

    name: str
    image_bgr: np.ndarray | None
    faces: tuple[Any, ...]
    annotated_bgr: np.ndarray | None
    error: str | None = None
    dropped: tuple[Any, ...] = ()  # boxes the face checks dropped (core.detection.Dropped), when asked

    @property
    def ok(self) -> bool:
        return self.error is None

    def report(self) -> ImageReport:
        """The CLI's report type, so the downloads match ``python -m core predict`` exactly."""
        return ImageReport(self.name, self.faces, self.error)


def analyse_upload(
    name: str,
    data: bytes,
    recognizer: _Recognizer,
    *,
    detector: str | FaceDetector,
    tta: str | None = None,
    min_score: float = 0.0,
    landmarks: bool = False,
    show_dropped: bool = False,
    rule: UncertaintyRule | None = None,
) -> UploadOutcome:
    """Decode ``data``, find and classify its faces, and draw them, numbered as the page lists them.

    Args:
        detector: a detector instance (the page's, from :func:`app.cache.photo_detector`), or a name the
            recognizer builds with the detector's photo defaults.
        min_score: leave out faces whose detection score is below this (0 keeps every face found). The
            page's detector is built with the same threshold, so it finds the faces down to it; this
            check keeps a detector built with a lower one to its word.
        landmarks: mark the detector's face points (eyes, nose, mouth corners) on the picture.
        show_dropped: also keep, and draw in gray, the boxes the face checks or the face verifier dropped.
        rule: label the picture's faces by this uncertainty rule ("sad or neutral", "uncertain").

    A file that is not a readable image (or that the model cannot handle) gives an outcome with
    ``error`` set instead of raising, so that one bad file does not hide the others.
    """
    try:
        image = load_image(bytes(data))
        options = {} if tta is None else {"tta": tta}  # None: the recognizer's own setting
        dropped: tuple[Any, ...] = ()
        if show_dropped:
            found = examine(recognizer.detector(detector), image)
            dropped = tuple(found.dropped)
            predicted = recognizer.predict_faces(image, found.faces, **options)
        else:
            predicted = recognizer.predict_image(image, detector=detector, **options)
        faces = tuple(face for face in predicted if face.detection_score >= min_score)
    except FERError as exc:
        return UploadOutcome(name, None, (), None, str(exc))
    drawn = labelled(faces, rule) if rule is not None else faces
    annotated = annotate(image, drawn, numbered=True, show_landmarks=landmarks)
    if dropped:
        annotated = mark_dropped(annotated, dropped)
    return UploadOutcome(name, image, faces, annotated, dropped=dropped)


def analyse_uploads(
    uploads: Sequence[tuple[str, bytes]], recognizer: _Recognizer, *, limits: Limits, **options: Any
) -> list[UploadOutcome]:
    """:func:`analyse_upload` for each ``(name, bytes)``, within the run's pixel budget.

    The photos of one run together may hold :attr:`app.limits.Limits.megapixels_per_run`: a photo
    whose header declares more than what is left is refused before it is decoded, and the photos
    after it are still tried against what is left.
    """
    outcomes: list[UploadOutcome] = []
    used = 0
    for name, data in uploads:
        declared = _declared_pixels(data)
        try:
            if declared is not None:
                check_run_pixels(used + declared, limits=limits)
        except LimitError as exc:
            outcomes.append(UploadOutcome(name, None, (), None, f"not analysed: {exc}"))
            continue
        outcome = analyse_upload(name, data, recognizer, **options)
        if outcome.ok:
            used += int(outcome.image_bgr.shape[0]) * int(outcome.image_bgr.shape[1])
        outcomes.append(outcome)
    return outcomes


def _declared_pixels(data: bytes) -> int | None:
    """Width times height from an image's header (nothing decoded); ``None`` when it cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - analyse_upload reports what is wrong with the file
        return None
    return int(width) * int(height)


def expand_uploads(
    files: Sequence[tuple[str, bytes]], *, limits: Limits
) -> tuple[list[tuple[str, bytes]], list[SkippedMember]]:
    """The photos of an upload: each photo as it is, and the photos of each ``.zip`` (named ``ZIP/path``).

    A ZIP counts as one file of :attr:`Limits.files_per_upload`; its photos are read within the
    archive limits (:func:`app.limits.read_archive`), together at most :attr:`Limits.archive_photos`.

    Returns:
        ``(photos, skipped)``: ``(name, bytes)`` to analyse, and the ZIPs' members that are not photos.

    Raises:
        LimitError: too many files or photos, or one too large.
        core.errors.ArchiveError: a ZIP is damaged, hostile or over an archive limit.
    """
    check_file_count(len(files), limits=limits)
    photos: list[tuple[str, bytes]] = []
    skipped: list[SkippedMember] = []
    from_archives = 0
    for name, data in files:
        if not name.lower().endswith(".zip"):
            check_photo_size(name, len(data), limits=limits)
            photos.append((name, data))
            continue
        archive = read_archive(name, data, limits=limits)
        from_archives += len(archive.photos)
        if from_archives > limits.archive_photos:
            raise LimitError(
                f"these ZIPs hold {from_archives} photos together; the limit here is {limits.archive_photos}: "
                "upload fewer at a time."
            )
        for member in archive.photos:
            check_photo_size(f"{name}/{member.name}", len(member.data), limits=limits)
            photos.append((f"{name}/{member.name}", member.data))
        skipped.extend(SkippedMember(f"{name}/{m.name}", m.reason) for m in archive.skipped)
        skipped.extend(SkippedMember(f"{name}/{m.name}", "not a photo") for m in archive.texts)
    return photos, skipped


def results_json(
    outcomes: Sequence[UploadOutcome], *, model: str, detector: str, readout: Readout | None = None
) -> str:
    """All results as JSON: ``{"model", "detector", "uncertainty", "groups", "images": [{"path", "faces", "error"}]}``.

    Each face adds ``readout``'s flag and, with a grouping, its group (see :mod:`core.readout`).
    """
    readout = readout or Readout()
    payload = {
        "model": model,
        "detector": detector,
        "uncertainty": readout.rule.to_dict(),
        "groups": None if readout.grouping is None else readout.grouping.spec(),
        "images": [outcome.report().to_dict(readout) for outcome in outcomes],
    }
    return json.dumps(payload, indent=2)


def results_csv(outcomes: Sequence[UploadOutcome], *, readout: Readout | None = None) -> str:
    """One row per face (columns as in the CLI's CSV); a file without faces still gets a row."""
    buffer = io.StringIO()
    write_csv([outcome.report() for outcome in outcomes], buffer, readout=readout)
    return buffer.getvalue()


def results_rows(outcomes: Sequence[UploadOutcome], *, readout: Readout | None = None) -> list[dict[str, Any]]:
    """Table rows, one per face: file, number, what the model says (the readout's label), group, emotion, box..."""
    readout = readout or Readout()
    rows = []
    for outcome in outcomes:
        for index, face in enumerate(outcome.faces, start=1):
            x, y, w, h = face.box
            said = readout.face_dict(face.probabilities, ndigits=4)
            group = {} if readout.grouping is None else {"group": said["group"]}
            rows.append(
                {
                    "file": outcome.name, "face": index, "says": said["label"], **group, "emotion": face.emotion,
                    "confidence": round(float(face.confidence), 4), "box (x, y, w, h)": f"{x}, {y}, {w}, {h}",
                    "detector score": round(float(face.detection_score), 3),
                }
            )  # fmt: skip
    return rows


def dominant_emotion(faces: Sequence[Any]) -> str | None:
    """The emotion most of ``faces`` show (a tie goes to the larger summed confidence); ``None`` for no face."""
    if not faces:
        return None
    votes: dict[str, tuple[int, float]] = {}
    for face in faces:
        count, confidence = votes.get(face.emotion, (0, 0.0))
        votes[face.emotion] = (count + 1, confidence + float(face.confidence))
    return max(votes, key=lambda emotion: votes[emotion])


def emotion_counts(outcomes: Sequence[UploadOutcome]) -> dict[str, int]:
    """Faces per emotion across all photos, every emotion in label order (0 where none)."""
    counts = dict.fromkeys(EMOTIONS, 0)
    for outcome in outcomes:
        for face in outcome.faces:
            counts[face.emotion] += 1
    return counts


def photo_rows(outcomes: Sequence[UploadOutcome]) -> list[dict[str, Any]]:
    """Table rows, one per photo: its faces, dominant emotion, the emotions counted, and what went wrong."""
    rows = []
    for outcome in outcomes:
        counts = Counter(face.emotion for face in outcome.faces)
        note = f"not read: {outcome.error}" if not outcome.ok else ("" if outcome.faces else "no face found")
        rows.append(
            {
                "photo": outcome.name, "faces": len(outcome.faces),
                "dominant emotion": dominant_emotion(outcome.faces) or "",
                "emotions": ", ".join(f"{counts[name]} {name}" for name in EMOTIONS if counts[name]), "note": note,
            }
        )  # fmt: skip
    return rows


def encode_png(image_bgr: np.ndarray) -> bytes:
    """PNG bytes of a BGR ``uint8`` image (in memory)."""
    ok, buffer = cv2.imencode(".png", image_bgr)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image_bgr.shape} as PNG")
    return buffer.tobytes()


def annotated_name(name: str) -> str:
    """Download file name of an upload's annotated copy, e.g. ``photo.jpg`` -> ``photo.annotated.png``."""
    # Only the file name: an upload's name may carry folders ("../../x.jpg"); downloads must not.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem or 'image'}.annotated.png"
