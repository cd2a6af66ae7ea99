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

from app.limits import RUN_TOO_LARGE, Limits
from core.annotate import annotate
from core.cli import ImageReport, write_csv
from core.errors import FERError
from core.imageio import load_image
from core.labels import EMOTIONS

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


@dataclass(frozen=True)
class UploadOutcome:
    """One uploaded file: the image, its faces and the annotated copy; or the error that stopped it."""

    name: str
    image_bgr: np.ndarray | None
    faces: tuple[Any, ...]
    annotated_bgr: np.ndarray | None
    error: str | None = None

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
) -> UploadOutcome:
    """Decode ``data``, find and classify its faces, and draw them, numbered as the page lists them.

    Args:
        min_score: leave out faces whose detection score is below this (0 keeps every face found).
        landmarks: mark the detector's face points (eyes, nose, mouth corners) on the picture.

    A file that is not a readable image (or that the model cannot handle) gives an outcome with
    ``error`` set instead of raising, so that one bad file does not hide the others.
    """
    try:
        image = load_image(bytes(data))
        options = {} if tta is None else {"tta": tta}  # None: the recognizer's own setting
        faces = tuple(
            face for face in recognizer.predict_image(image, detector=detector, **options)
            if face.detection_score >= min_score
        )  # fmt: skip
    except FERError as exc:
        return UploadOutcome(name, None, (), None, str(exc))
    return UploadOutcome(name, image, faces, annotate(image, faces, numbered=True, show_landmarks=landmarks))


def analyse_uploads(
    uploads: Sequence[tuple[str, bytes]], recognizer: _Recognizer, *, limits: Limits, **options: Any
) -> list[UploadOutcome]:
    """:func:`analyse_upload` for each ``(name, bytes)``, within the run's pixel budget.

    The photos of one run together may hold :attr:`app.limits.Limits.megapixels_per_run`: a photo
    whose header declares more than what is left is refused before it is decoded, and the photos
    after it are still tried against what is left.
    """
    budget = limits.megapixels_per_run * 1e6
    outcomes: list[UploadOutcome] = []
    used = 0
    for name, data in uploads:
        declared = _declared_pixels(data)
        if declared is not None and used + declared > budget:
            message = RUN_TOO_LARGE.format(megapixels=(used + declared) / 1e6, limit=limits.megapixels_per_run)
            outcomes.append(UploadOutcome(name, None, (), None, f"not analysed: {message}"))
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


def results_json(outcomes: Sequence[UploadOutcome], *, model: str, detector: str) -> str:
    """All results as JSON: ``{"model", "detector", "images": [{"path", "faces", "error"}]}``."""
    payload = {
        "model": model,
        "detector": detector,
        "images": [outcome.report().to_dict() for outcome in outcomes],
    }
    return json.dumps(payload, indent=2)


def results_csv(outcomes: Sequence[UploadOutcome]) -> str:
    """One row per face (columns as in the CLI's CSV); a file without faces still gets a row."""
    buffer = io.StringIO()
    write_csv([outcome.report() for outcome in outcomes], buffer)
    return buffer.getvalue()


def results_rows(outcomes: Sequence[UploadOutcome]) -> list[dict[str, Any]]:
    """Table rows, one per face: file, face number, emotion, confidence, box and detector score."""
    rows = []
    for outcome in outcomes:
        for index, face in enumerate(outcome.faces, start=1):
            x, y, w, h = face.box
            rows.append(
                {
                    "file": outcome.name, "face": index, "emotion": face.emotion,
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
