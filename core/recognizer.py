"""Emotion recognition on whole images or on face crops, with one trained model.

:class:`EmotionRecognizer` wraps a Keras model or its LiteRT conversion (input ``(N, 48, 48, 1)``
raw gray 0..255, output ``(N, 7)`` softmax in :data:`core.labels.EMOTIONS` order). On the TensorFlow
backend the model is compiled once into a ``tf.function`` with a fixed input signature and traced at
construction; on LiteRT each thread gets its own interpreter. Either way one instance can serve
many threads (the app shares it via ``st.cache_resource``). All faces of an image go through the
model in one batched call.

:meth:`EmotionRecognizer.from_dir` serves the model directory's ``.tflite`` file through LiteRT
when it has one and ``ai-edge-litert`` is installed (about 4.6x faster per face, and TensorFlow is
never imported), else the ``.keras`` file through Keras.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.detection import Detection, FaceDetector, Landmarks, detector_name
from core.errors import FERError, ModelLoadError
from core.labels import EMOTIONS, FACE_SIZE, NUM_CLASSES
from core.litert import LiteRTModel, LiteRTUnavailable, load_litert_model
from core.model_store import load_model_dir, read_model_info, resolve_model_dir
from core.pipeline import STILL_DETECTOR, PhotoOptions, photo_detector
from core.preprocess import DEFAULT_MARGIN, Box, check_image, crop_faces, prepare_crop, tta_mode, tta_views

# Faces per model call in predict_batch; bounds memory for large arrays (e.g. a whole test split).
DEFAULT_BATCH_SIZE = 256
# How from_dir serves a model: "auto" prefers the .tflite file through LiteRT and falls back to Keras.
BACKENDS: tuple[str, ...] = ("auto", "litert", "keras")


@dataclass(frozen=True)
class FaceResult:
    """The emotion of one face.

    Attributes:
        box: ``(x, y, w, h)`` of the face in the image (the whole crop in crops mode).
        detection_score: the detector's score in 0..1 (1.0 for a crop given as a face).
        emotion: the most probable of :data:`core.labels.EMOTIONS`.
        confidence: the probability of ``emotion``.
        probabilities: every emotion's probability, in label order; sums to 1.
        landmarks: the detector's face points as ``(x, y)`` pixels (YuNet: right eye, left eye,
            nose, right and left mouth corners), or ``None`` when the detector gives none.
    """

    box: Box
    detection_score: float
    emotion: str
    confidence: float
    probabilities: dict[str, float] = field(hash=False)
    landmarks: Landmarks | None = field(default=None, hash=False)

    def to_dict(self, *, ndigits: int | None = 6) -> dict[str, Any]:
        """JSON-ready form: ``{"box": [x, y, w, h], "emotion", "confidence", "probabilities", ...}``.

        Keys: ``box``, ``emotion``, ``confidence``, ``probabilities``, ``detection_score``, ``landmarks``.

        ``landmarks`` is a list of ``[x, y]`` pairs, or ``None`` when the detector gives none.

        Args:
            ndigits: round floats to this many decimals (``None`` keeps full precision).
        """

        def num(value: float) -> float:
            return float(value) if ndigits is None else round(float(value), ndigits)

        return {
            "box": [int(v) for v in self.box],
            "emotion": self.emotion,
            "confidence": num(self.confidence),
            "probabilities": {name: num(p) for name, p in self.probabilities.items()},
            "detection_score": num(self.detection_score),
            "landmarks": None if self.landmarks is None else [[num(x), num(y)] for x, y in self.landmarks],
        }


def _result(
    box: Sequence[int], detection_score: float, probs: np.ndarray, landmarks: Landmarks | None = None
) -> FaceResult:
    best = int(np.argmax(probs))
    return FaceResult(
        box=tuple(int(v) for v in box),  # type: ignore[arg-type]
        detection_score=float(detection_score),
        emotion=EMOTIONS[best],
        confidence=float(probs[best]),
        probabilities={name: float(p) for name, p in zip(EMOTIONS, probs)},
        landmarks=None if landmarks is None else tuple((float(x), float(y)) for x, y in landmarks),
    )


class EmotionRecognizer:
    """A loaded emotion model plus the detector and crop settings used to apply it.

    Safe to share between threads once constructed.
    """

    def __init__(
        self,
        model: Any,
        metadata: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        detector: str | FaceDetector = STILL_DETECTOR,
        margin: float = DEFAULT_MARGIN,
        align: bool = True,
        tta: bool | str = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Wrap a Keras model and compile its inference function (a warm-up call runs here).

        Args:
            model: a ``keras.Model`` with input ``(None, 48, 48, 1)`` and 7 softmax outputs, or a
                :class:`core.litert.LiteRTModel` of one.
            metadata: the model's metadata (see :mod:`core.model_store`); its ``labels``, when
                present, must be :data:`core.labels.EMOTIONS`.
            name: shown in the UI and reports; defaults to ``metadata["name"]`` or ``"model"``.
            detector: default face detector for :meth:`predict_image`: a name from
                :data:`core.detection.DETECTORS` (built on first use by :func:`core.pipeline.photo_detector`,
                with the detector's photo defaults) or a detector instance.
            margin: fraction of the face box added on each side before cropping (faces without
                landmarks, or all faces when ``align`` is off).
            align: faces with landmarks (YuNet's) are levelled and framed like FER2013's faces
                (:func:`core.preprocess.aligned_crop`) instead of cut from their box.
            tta: test-time augmentation, one of :data:`core.preprocess.TTA_MODES`: ``"flip"`` (or
                ``True``) averages each face with its mirror (2x the work); ``"tencrop"`` averages ten
                crops (10x).
            batch_size: most faces per model call in :meth:`predict_batch`.

        Raises:
            ModelLoadError: the model's shapes or labels do not match, or its output is not softmax.
            ValueError: a bad option value (the message names it).
        """
        if margin < 0:
            raise ValueError(f"margin must be >= 0 (a fraction of the face box), got {margin}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(detector, str):
            detector_name(detector)  # an unknown name fails here, not at the first photo
        elif not isinstance(detector, FaceDetector):
            raise ValueError(f"detector must be a detector name or a FaceDetector, got {type(detector).__name__}")
        self._metadata: dict[str, Any] = dict(metadata or {})
        labels = self._metadata.get("labels", list(EMOTIONS))
        if list(labels) != list(EMOTIONS):
            raise ModelLoadError(f"model labels {list(labels)} do not match the FER2013 classes {list(EMOTIONS)}")
        _check_model_shapes(model)
        self.name = name or str(self._metadata.get("name") or "model")
        self.margin = float(margin)
        self.align = bool(align)
        self.tta = tta_mode(tta)
        self.batch_size = int(batch_size)
        self._model = model
        self._default_detector = detector
        self._detectors: dict[str, FaceDetector] = {}
        self._detectors_lock = threading.Lock()
        self.backend = "litert" if isinstance(model, LiteRTModel) else "keras"
        # Why from_dir did not serve through LiteRT (None when it did, or was not asked to).
        self.fallback_reason: str | None = None
        self._run = _compile(model)
        _check_softmax(self._run, self.name)

    @classmethod
    def from_dir(
        cls, model: str | Path | None = None, *, backend: str = "auto", **options: Any
    ) -> EmotionRecognizer:
        """Load a model directory by path or by name under ``models/`` (``None``: the default model).

        Args:
            model: model directory path or name.
            backend: one of :data:`BACKENDS`. ``"auto"`` serves the directory's ``.tflite`` file
                through LiteRT when there is one and ``ai-edge-litert`` imports, else the ``.keras``
                file through Keras; a damaged ``.tflite`` file falls back to Keras with a
                ``RuntimeWarning``. ``fallback_reason`` says why LiteRT was not used.
                ``"litert"`` raises instead of falling back; ``"keras"`` never tries LiteRT.
            **options: keyword options of :class:`EmotionRecognizer` (``detector``, ``margin``, ...).

        Raises:
            ModelLoadError: the directory is missing or unusable, or (``backend="litert"``) its
                ``.tflite`` file cannot be served (the message says why).
            ValueError: an unknown ``backend`` or a bad option value.
        """
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        path = resolve_model_dir(model)
        if not path.is_dir():
            raise ModelLoadError(
                f"model directory not found: {path}; train a model first "
                "or pass the name or path of an existing model directory"
            )
        options.setdefault("name", path.name)
        reason = None
        if backend != "keras":
            info = read_model_info(path)
            if not info.ok:
                raise ModelLoadError(f"model {info.name!r} cannot be used: {info.error}")
            try:
                return cls(load_litert_model(path, info.metadata), info.metadata, **options)
            except ModelLoadError as exc:
                if backend == "litert":
                    raise ModelLoadError(f"model {info.name!r} cannot be served with LiteRT: {exc}") from exc
                reason = str(exc)
                if not isinstance(exc, LiteRTUnavailable):
                    warnings.warn(
                        f"model {info.name!r}: its .tflite file cannot be served ({exc}); using the Keras model",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        keras_model, metadata = load_model_dir(path)
        recognizer = cls(keras_model, metadata, **options)
        recognizer.fallback_reason = reason
        return recognizer

    def __repr__(self) -> str:
        return (
            f"EmotionRecognizer(name={self.name!r}, backend={self.backend!r}, detector={self._default_detector!r}, "
            f"margin={self.margin}, align={self.align}, tta={self.tta})"
        )

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the model's metadata."""
        return dict(self._metadata)

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in output order (always :data:`core.labels.EMOTIONS`)."""
        return EMOTIONS

    def detector(self, detector: str | FaceDetector | None = None) -> FaceDetector:
        """The detector instance for a name (built once by :func:`core.pipeline.photo_detector` and kept), an
        instance, or ``None`` for the default.

        Raises:
            ValueError: an unknown detector name.
        """
        chosen = self._default_detector if detector is None else detector
        if not isinstance(chosen, str):
            return chosen
        key = detector_name(chosen)
        with self._detectors_lock:
            if key not in self._detectors:
                self._detectors[key] = photo_detector(PhotoOptions(detector=key))
            return self._detectors[key]

    def predict_batch(self, faces: np.ndarray, *, tta: bool | str | None = None) -> np.ndarray:
        """Probabilities for prepared faces.

        Args:
            faces: ``(N, 48, 48, 1)`` or ``(N, 48, 48)`` raw gray values 0..255 (any numeric dtype).
            tta: test-time augmentation for this call; ``None`` uses the recognizer's.

        Returns:
            ``float64`` array ``(N, 7)``; each row sums to 1. ``(0, 7)`` for no faces.
        """
        batch = np.asarray(faces)
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.ndim != 4 or batch.shape[1:] != (FACE_SIZE, FACE_SIZE, 1):
            raise ValueError(
                f"expected faces of shape (N, {FACE_SIZE}, {FACE_SIZE}, 1) with raw values 0..255, got {batch.shape}"
            )
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        count = batch.shape[0]
        if count == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float64)
        mode = self.tta if tta is None else tta_mode(tta)
        outputs = []
        for start in range(0, count, self.batch_size):
            chunk = batch[start : start + self.batch_size]
            if mode == "none":
                outputs.append(self._run(chunk))
            else:
                views = tta_views(chunk, mode)
                probs = self._run(np.ascontiguousarray(views.reshape(-1, *chunk.shape[1:])))
                outputs.append(np.asarray(probs).reshape(len(views), len(chunk), -1).mean(axis=0))
        return _normalise(np.concatenate(outputs).astype(np.float64), self.name)

    def predict_faces(
        self,
        image_bgr: np.ndarray,
        detections: Sequence[Detection],
        *,
        margin: float | None = None,
        tta: bool | str | None = None,
    ) -> list[FaceResult]:
        """Classify faces already found in an image (e.g. by a detector run elsewhere)."""
        check_image(image_bgr)
        if not detections:
            return []
        points = [getattr(d, "landmarks", None) for d in detections]
        probs = self.predict_batch(self.crop_detections(image_bgr, detections, margin=margin), tta=tta)
        return [_result(d.box, d.score, p, lm) for d, p, lm in zip(detections, probs, points)]

    def crop_detections(
        self, image_bgr: np.ndarray, detections: Sequence[Any], *, margin: float | None = None
    ) -> np.ndarray:  # fmt: skip
        """The model inputs of faces found in an image, cut as :meth:`predict_faces` cuts them.

        Args:
            detections: items with ``box`` and, when the recognizer aligns, ``landmarks`` (a
                :class:`core.detection.Detection` or a :class:`FaceResult`).

        Returns:
            ``float32 (N, 48, 48, 1)`` raw gray values 0..255.
        """
        points = [getattr(d, "landmarks", None) for d in detections]
        return crop_faces(
            image_bgr,
            [d.box for d in detections],
            margin=self.margin if margin is None else margin,
            landmarks=points if self.align else None,
        )

    def predict_image(
        self,
        image_bgr: np.ndarray,
        *,
        detector: str | FaceDetector | None = None,
        margin: float | None = None,
        tta: bool | str | None = None,
    ) -> list[FaceResult]:
        """Find the faces in a BGR image and classify them all in one model call.

        Args:
            image_bgr: ``uint8`` BGR image (gray and BGRA are accepted too).
            detector: a detector name or instance; ``None`` uses the recognizer's default.
            margin: crop margin; ``None`` uses the recognizer's.
            tta: test-time augmentation for this call; ``None`` uses the recognizer's.

        Returns:
            One :class:`FaceResult` per face, left to right; empty when there is no face.
        """
        check_image(image_bgr)
        detections = self.detector(detector).detect(image_bgr)
        return self.predict_faces(image_bgr, detections, margin=margin, tta=tta)

    def predict_crops(
        self, crops: Sequence[np.ndarray] | np.ndarray, *, tta: bool | str | None = None
    ) -> list[FaceResult]:
        """Classify images that are each one face already (no detection; box = the whole crop).

        Args:
            crops: ``uint8`` gray/BGR/BGRA images of any size, or one ``(N, H, W[, C])`` array of them.
        """
        items = list(crops)
        if not items:
            return []
        prepared = np.stack([prepare_crop(crop) for crop in items])
        probs = self.predict_batch(prepared, tta=tta)
        return [_result((0, 0, crop.shape[1], crop.shape[0]), 1.0, p) for crop, p in zip(items, probs)]


def _check_model_shapes(model: Any) -> None:
    try:
        input_shape = tuple(model.input_shape)
        output_shape = tuple(model.output_shape)
    except (AttributeError, ValueError) as exc:
        raise ModelLoadError(f"not a usable Keras model (no single input/output): {exc}") from exc
    if input_shape[1:] != (FACE_SIZE, FACE_SIZE, 1) or output_shape[-1] != NUM_CLASSES:
        raise ModelLoadError(
            f"model has input {input_shape} and output {output_shape}; "
            f"expected (None, {FACE_SIZE}, {FACE_SIZE}, 1) and (None, {NUM_CLASSES})"
        )


def _compile(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A thread-safe ``float32 (N, 48, 48, 1) -> (N, 7)`` function for the model."""
    if isinstance(model, LiteRTModel):
        return model  # one interpreter per thread already
    import keras  # noqa: PLC0415 - heavy import, only when a model is used

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415

        @tf.function(
            input_signature=[tf.TensorSpec([None, FACE_SIZE, FACE_SIZE, 1], tf.float32)],
            reduce_retracing=True,
        )
        def serve(x: Any) -> Any:
            out = model(x, training=False)
            return out[0] if isinstance(out, (list, tuple)) else out

        # Trace now: later calls only execute the graph, which TensorFlow allows from many threads.
        concrete = serve.get_concrete_function()

        def run_tf(batch: np.ndarray) -> np.ndarray:
            return concrete(tf.constant(batch)).numpy()

        return run_tf

    lock = threading.Lock()

    def run_locked(batch: np.ndarray) -> np.ndarray:
        # Other backends give no thread-safety promise for a shared model.
        with lock:
            out = model.predict_on_batch(batch)
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)

    return run_locked


def _check_softmax(run: Callable[[np.ndarray], np.ndarray], name: str) -> None:
    probe = np.full((2, FACE_SIZE, FACE_SIZE, 1), 128.0, dtype=np.float32)
    probe[1] = 0.0
    out = np.asarray(run(probe), dtype=np.float64)
    if out.shape != (2, NUM_CLASSES):
        raise ModelLoadError(f"model {name!r} returned shape {out.shape} for 2 faces; expected (2, {NUM_CLASSES})")
    if not np.all(np.isfinite(out)) or np.any(out < 0) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        raise ModelLoadError(
            f"model {name!r} does not output softmax probabilities (rows sum to {out.sum(axis=1).round(4).tolist()}); "
            "its last layer must be Dense(7, activation='softmax')"
        )


def _normalise(probs: np.ndarray, name: str) -> np.ndarray:
    totals = probs.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(probs)) or np.any(totals <= 0):
        raise FERError(f"model {name!r} produced invalid probabilities (NaN or all zero); the model may be corrupt")
    return probs / totals
