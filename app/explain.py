"""The "Why?" views: which parts of a face made the model say its emotion (:mod:`core.saliency`).

A face's occlusion map is drawn over the face as the model saw it and over the face in the photo,
beside its probability chart on the upload page, and for a chosen face of the Evaluation page's
gallery of mistakes and of "Your photos"' misclassified photos. Maps are computed when asked for (a few hundred model calls a face).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import streamlit as st

from core.labels import EMOTIONS, FACE_SIZE
from core.saliency import FaceSaliency, explain_crops, explain_faces, overlay_crop, overlay_face

WHY_HELP = (
    "Hides each small square of the face in turn (8 px of the 48-px face the model sees, every 4 px) and "
    "measures how much the emotion's probability drops: red parts held the answer up. Works on the model "
    "as served, test-time augmentation included."
)
CROP_CAPTION = "As the model sees it (48x48, levelled)"
SHOWN_SIDE = 192  # pixels: the crop overlay's size, and the least the face in the photo is shown at


def why_text(saliency: FaceSaliency) -> str:
    """One caption sentence: what the colours mean for this map, and how strong it is."""
    views = {"none": "", "flip": " Both views of flip TTA are averaged, as the probability is."}.get(
        saliency.tta, " The ten views of ten-crop TTA are averaged, as the probability is."
    )
    if saliency.strongest_drop <= 0:
        return (
            f"Hiding no part of the face lowers {saliency.emotion} ({saliency.probability:.0%}): "
            f"no single region holds it up.{views}"
        )
    return (
        f"Red: where hiding the face lowers {saliency.emotion} ({saliency.probability:.0%}) the most, "
        f"by up to {saliency.strongest_drop * 100:.0f} points; uncoloured parts do not hold it up.{views}"
    )


def enlarged(image: np.ndarray, *, side: int = SHOWN_SIDE) -> np.ndarray:
    """``image`` scaled up so its longer side is at least ``side`` pixels (a small face stays legible)."""
    longest = max(image.shape[:2])
    if longest >= side:
        return image
    scale = side / longest
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


def _emotion_picker(shown: str, *, key: str) -> str:
    return st.selectbox(
        "Explain", EMOTIONS, index=EMOTIONS.index(shown), key=key,
        format_func=lambda name: f"{name} (shown)" if name == shown else name,
    )  # fmt: skip


def upload_why(recognizer: Any, *, tta: str) -> Callable[[Any, int, str], None]:
    """The upload page's per-face "Why?" view, for :func:`app.ui.outcome_ui` (``why=``).

    Args:
        recognizer: the recognizer that analysed the uploads (its crops are reproduced exactly).
        tta: the test-time augmentation the page used, so the map explains the probability shown.
    """

    def show(outcome: Any, number: int, key: str) -> None:
        face = outcome.faces[number - 1]
        emotion = _emotion_picker(face.emotion, key=f"{key}_emotion")
        (saliency,) = explain_faces(recognizer, outcome.image_bgr, [face], emotion=emotion, tta=tta)
        crop_column, photo_column = st.columns(2)
        crop_column.image(overlay_crop(saliency), channels="BGR", caption=CROP_CAPTION)
        photo_column.image(enlarged(overlay_face(outcome.image_bgr, saliency)), channels="BGR", caption="In the photo")
        st.caption(why_text(saliency))

    return show


def gallery_why_ui(
    recognizer: Any,
    faces: np.ndarray,
    true_labels: np.ndarray,
    predicted: np.ndarray,
    shown: Sequence[int],
    *,
    key: str,
) -> None:
    """The Evaluation gallery's "Why?": for one of the ``shown`` faces, why the model said its answer, and the truth.

    The gallery's predictions are made without test-time augmentation, so the maps are too.

    Args:
        faces: the split's ``(N, 48, 48)`` faces; ``true_labels`` and ``predicted`` their label indices.
        shown: the indices of the faces on the gallery's page.
    """
    if not len(shown) or not st.toggle("Why? Explain one of these faces", key=f"{key}_on", help=WHY_HELP):
        return
    index = st.selectbox(
        "Face", list(shown), key=f"{key}_face",
        format_func=lambda i: f"#{i}: {EMOTIONS[int(true_labels[i])]} → {EMOTIONS[int(predicted[i])]}",
    )  # fmt: skip
    said_and_truth_ui(
        recognizer, faces[index], EMOTIONS[int(predicted[index])], EMOTIONS[int(true_labels[index])], tta="none"
    )


def photos_why_ui(recognizer: Any, wrong: Sequence[Any], *, tta: str, key: str) -> None:
    """"Your photos"' "Why?": for one misclassified photo, why the model said its answer, and the truth.

    Args:
        recognizer: the model that judged the photos.
        wrong: :class:`training.photos.PhotoResult` items with their model input (``crop``).
        tta: the test-time augmentation the photos were judged with, so the maps explain its answer.
    """
    explainable = [r for r in wrong if r.crop is not None]
    if not explainable or not st.toggle("Why? Explain one of these faces", key=f"{key}_on", help=WHY_HELP):
        return
    index = st.selectbox(
        "Photo", range(len(explainable)), key=f"{key}_face",
        format_func=lambda i: f"{explainable[i].name}: {explainable[i].label} → {explainable[i].predicted}",
    )  # fmt: skip
    result = explainable[index]
    said_and_truth_ui(recognizer, result.crop, result.predicted, result.label, tta=tta)


def said_and_truth_ui(recognizer: Any, face: np.ndarray, said_name: str, true_name: str, *, tta: str) -> None:
    """Two maps of one ``48x48`` model input side by side: why the model said ``said_name``, and what held
    up ``true_name``."""
    crop = np.asarray(face, dtype=np.float32).reshape(1, FACE_SIZE, FACE_SIZE, 1)
    said = explain_crops(recognizer, crop, emotion=said_name, tta=tta)[0]
    truth = explain_crops(recognizer, crop, emotion=true_name, tta=tta)[0]
    said_column, true_column = st.columns(2)
    said_caption = f"Why {said_name} ({said.probability:.0%}), its answer"
    said_column.image(overlay_crop(said), channels="BGR", caption=said_caption)
    true_column.image(
        overlay_crop(truth), channels="BGR", caption=f"What held up {true_name} ({truth.probability:.0%}), the label"
    )
    st.caption(f"{why_text(said)} Right: the same for the true label.")
