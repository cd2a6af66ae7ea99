"""The "Why?" views: which parts of a face made the model say its emotion (:mod:`core.saliency`).

A face's occlusion map is drawn over the face as the model saw it and over the face in the photo,
beside its probability chart on the upload page, and for a chosen face of the Evaluation page's
gallery of mistakes and of "Your photos"' misclassified photos. Maps are computed when asked for (a few
hundred model calls a face) and kept in a Streamlit cache per photo, face, model, emotion and TTA, so a
rerun of the page (any click anywhere on it) shows an open map again without computing it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import streamlit as st

from app import cache
from core.labels import EMOTIONS, FACE_SIZE
from core.saliency import FaceSaliency, explain_crops, explain_faces, overlay_crop, overlay_face

if TYPE_CHECKING:
    from core.model_store import ModelInfo

WHY_HELP = (
    "Hides each small square of the face in turn (8 px of the 48-px face the model sees, every 4 px) and "
    "measures how much the emotion's probability drops: red parts held the answer up. Works on the model "
    "as served, test-time augmentation included."
)
CROP_CAPTION = "As the model sees it (48x48, levelled)"
SHOWN_SIDE = 192  # pixels: the crop overlay's size, and the least the face in the photo is shown at
MAP_CACHE_ENTRIES = 256
"""Maps the process keeps, all sessions together (about 12 KB each: a 48x48 float map and its crop)."""
MAP_CACHE_TTL = "1h"
"""How long a map is kept: long enough for a visit, short enough that a photo's maps do not outlive it for long."""
COMPUTING = "Explaining the face (a few hundred model calls)..."

ModelKey = tuple[str, str, str]


def model_key(info: ModelInfo) -> ModelKey:
    """What tells one model's maps from another's: its directory and checksums, as :func:`app.cache.recognizer`
    keys the loaded model (a retrained model, or one given a new ``.tflite``, gets new maps)."""
    meta = info.metadata or {}
    return str(info.path), str(meta.get("model_sha256", "")), str(meta.get("tflite_sha256", ""))


def pixels_digest(image: np.ndarray) -> str:
    """A short digest of an image's pixels, shape and type (about 15 ms for a 5-megapixel photo)."""
    pixels = np.ascontiguousarray(image)
    digest = hashlib.blake2b(f"{pixels.dtype.str}{pixels.shape}".encode(), digest_size=16)
    digest.update(memoryview(pixels).cast("B"))
    return digest.hexdigest()


@st.cache_data(show_spinner=COMPUTING, max_entries=MAP_CACHE_ENTRIES, ttl=MAP_CACHE_TTL)
def _photo_face_map(
    _recognizer: Any,
    _image_bgr: np.ndarray,
    _face: Any,
    *,
    model: ModelKey,
    photo: str,
    number: int,
    box: tuple[int, ...],
    landmarks: tuple[tuple[float, float], ...] | None,
    emotion: str,
    tta: str,
) -> FaceSaliency:
    """The map of face ``number`` of a photo; the keyword arguments are the cache key (the photo's
    :func:`pixels_digest`, the face's box and points, the model's :func:`model_key`), the rest is not hashed."""
    del model, photo, number, box, landmarks  # the cache key only
    (saliency,) = explain_faces(_recognizer, _image_bgr, [_face], emotion=emotion, tta=tta)
    return saliency


@st.cache_data(show_spinner=COMPUTING, max_entries=MAP_CACHE_ENTRIES, ttl=MAP_CACHE_TTL)
def _crop_map(
    _recognizer: Any, _crop: np.ndarray, *, model: ModelKey, face: str, emotion: str, tta: str
) -> FaceSaliency:
    """The map of one ``(1, 48, 48, 1)`` model input; the keyword arguments are the cache key (``face`` is
    the input's :func:`pixels_digest`)."""
    del model, face  # the cache key only
    return explain_crops(_recognizer, _crop, emotion=emotion, tta=tta)[0]


def photo_face_map(
    info: ModelInfo, image_bgr: np.ndarray, face: Any, number: int, *, emotion: str, tta: str, photo: str | None = None
) -> FaceSaliency:
    """The map of a face found in a photo, computed once per photo, face, model, emotion and TTA, then cached.

    Args:
        info: the model that analysed the photo (:func:`app.cache.recognizer` serves it).
        face: the :class:`core.recognizer.FaceResult`; ``number`` its number on the page (from 1).
        photo: the photo's :func:`pixels_digest`, when the caller has it already.
    """
    landmarks = getattr(face, "landmarks", None)
    return _photo_face_map(
        cache.recognizer(info), image_bgr, face, model=model_key(info),
        photo=photo or pixels_digest(image_bgr), number=int(number), box=tuple(int(v) for v in face.box),
        landmarks=None if landmarks is None else tuple((float(x), float(y)) for x, y in landmarks),
        emotion=emotion, tta=tta,
    )  # fmt: skip


def crop_map(info: ModelInfo, crop: np.ndarray, *, emotion: str, tta: str) -> FaceSaliency:
    """The map of a ``48x48`` model input (raw gray 0..255), computed once per face, model, emotion and TTA."""
    face = np.asarray(crop, dtype=np.float32).reshape(1, FACE_SIZE, FACE_SIZE, 1)
    return _crop_map(
        cache.recognizer(info), face, model=model_key(info), face=pixels_digest(face), emotion=emotion, tta=tta
    )


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


def upload_why(info: ModelInfo, *, tta: str) -> Callable[[Any, int, str], None]:
    """The upload page's per-face "Why?" view, for :func:`app.ui.outcome_ui` (``why=``).

    Args:
        info: the model that analysed the uploads (its recognizer's crops are reproduced exactly).
        tta: the test-time augmentation the page used, so the map explains the probability shown.
    """
    digests: dict[int, str] = {}  # the photo's digest, once per run however many of its faces are open

    def show(outcome: Any, number: int, key: str) -> None:
        face = outcome.faces[number - 1]
        emotion = _emotion_picker(face.emotion, key=f"{key}_emotion")
        image = outcome.image_bgr
        if id(image) not in digests:
            digests[id(image)] = pixels_digest(image)
        saliency = photo_face_map(info, image, face, number, emotion=emotion, tta=tta, photo=digests[id(image)])
        crop_column, photo_column = st.columns(2)
        crop_column.image(overlay_crop(saliency), channels="BGR", caption=CROP_CAPTION)
        photo_column.image(enlarged(overlay_face(outcome.image_bgr, saliency)), channels="BGR", caption="In the photo")
        st.caption(why_text(saliency))

    return show


def gallery_why_ui(
    info: ModelInfo,
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
        info: the model whose answers the gallery shows.
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
        info, faces[index], EMOTIONS[int(predicted[index])], EMOTIONS[int(true_labels[index])], tta="none"
    )


def photos_why_ui(info: ModelInfo, wrong: Sequence[Any], *, tta: str, key: str) -> None:
    """"Your photos"' "Why?": for one misclassified photo, why the model said its answer, and the truth.

    Args:
        info: the model that judged the photos.
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
    said_and_truth_ui(info, result.crop, result.predicted, result.label, tta=tta)


def said_and_truth_ui(info: ModelInfo, face: np.ndarray, said_name: str, true_name: str, *, tta: str) -> None:
    """Two maps of one ``48x48`` model input side by side: why the model ``info`` said ``said_name``, and what
    held up ``true_name``."""
    said = crop_map(info, face, emotion=said_name, tta=tta)
    truth = crop_map(info, face, emotion=true_name, tta=tta)
    said_column, true_column = st.columns(2)
    said_caption = f"Why {said_name} ({said.probability:.0%}), its answer"
    said_column.image(overlay_crop(said), channels="BGR", caption=said_caption)
    true_column.image(
        overlay_crop(truth), channels="BGR", caption=f"What held up {true_name} ({truth.probability:.0%}), the label"
    )
    st.caption(f"{why_text(said)} Right: the same for the true label.")
