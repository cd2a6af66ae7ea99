"""Face detectors behind one small interface, registered by name.

Every detector takes a BGR ``uint8`` image and returns :class:`Detection` boxes in that image's
pixel coordinates, clipped to the image and sorted left to right. Detectors build their heavy parts
on first use, never at import time, and are safe to share between threads (the app caches one per
process).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, runtime_checkable

import cv2
import numpy as np

from core.errors import ModelLoadError
from core.preprocess import Box, check_image, clip_box, to_bgr, to_gray


Landmarks = tuple[tuple[float, float], ...]
"""Face landmarks as ``(x, y)`` pixels: YuNet gives five, in :data:`LANDMARK_NAMES` order."""

LANDMARK_NAMES: tuple[str, ...] = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")
"""YuNet's five landmarks, the person's right and left (the right eye is on the image's left)."""


class Detection(NamedTuple):
    """One detected face: ``box`` is ``(x, y, w, h)`` in pixels, ``score`` in 0..1 (higher is surer).

    ``landmarks`` are the detector's face points in the same pixels (``None`` for detectors that
    give none, such as Haar): for YuNet five, in :data:`LANDMARK_NAMES` order, not clipped.
    """

    box: Box
    score: float
    landmarks: Landmarks | None = None


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with a ``name`` and a ``detect(image_bgr) -> list[Detection]`` method."""

    name: str

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR ``uint8`` image; an empty list when there are none."""
        ...


def _check_common(min_face_size: int, max_side: int | None) -> None:
    if not isinstance(min_face_size, (int, np.integer)) or isinstance(min_face_size, bool) or min_face_size < 1:
        raise ValueError(f"min_face_size must be a whole number of pixels >= 1, got {min_face_size!r}")
    if max_side is not None and (not isinstance(max_side, (int, np.integer)) or max_side < 64):
        raise ValueError(f"max_side must be None (no downscaling) or a number of pixels >= 64, got {max_side!r}")


def check_score(min_score: float, name: str = "min_score") -> None:
    """Raise ``ValueError`` unless ``min_score`` is a number within 0..1 (every detector's score threshold, and
    the face verifier's); ``name`` is what the message calls it."""
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float, np.floating, np.integer)) or not (
        0.0 <= min_score <= 1.0
    ):
        raise ValueError(f"{name} must be within 0..1, got {min_score!r}")


def _downscale_factor(shape: tuple[int, ...], max_side: int | None) -> float:
    longest = max(shape[0], shape[1])
    if max_side is None or longest <= max_side:
        return 1.0
    return max_side / longest


def _finish(
    raw: list[tuple[tuple[float, float, float, float], float]],
    *,
    scale: float,
    image_shape: tuple[int, ...],
    min_face_size: int,
) -> list[Detection]:
    """Map boxes back to full resolution, clip, drop faces under ``min_face_size``, sort left to right."""
    found = []
    for (x, y, w, h), score in raw:
        box = clip_box((x / scale, y / scale, w / scale, h / scale), image_shape)
        if box is None or min(box[2], box[3]) < min_face_size:
            continue
        found.append(Detection(box, float(min(1.0, max(0.0, score)))))
    found.sort(key=lambda d: (d.box[0], d.box[1]))
    return found


VIDEO_MAX_SIDE: int = 320
"""Long side, in pixels, that the video presets of Haar and MTCNN shrink frames to before detecting.

Haar is about 80% of a 640x480 webcam frame's work; at a long side of 320 it takes about half the
time (21 ms instead of 39 ms on one slow core) and still found every face of the benchmark frames.
The cost: the cascade's smallest window (24 px) then covers 48 px of a 640x480 frame, so faces
smaller than that are missed; a face at arm's length from a webcam is 150-250 px.
"""


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: fast, CPU-only, frontal faces only.

    Each thread gets its own ``cv2.CascadeClassifier`` (one instance is not safe to share).
    The score is a logistic of the cascade's final-stage weight: monotone, not a calibrated
    probability (about 0.6 for a marginal face, above 0.95 for a clear one). The cascade has no
    score threshold of its own: by default every box it accepts is kept (``min_score`` 0).
    """

    name = "haar"
    video_options: Mapping[str, Any] = MappingProxyType({"max_side": VIDEO_MAX_SIDE})
    default_min_score: float = 0.0
    """``min_score`` when none is given: every box the cascade accepts."""

    def __init__(
        self,
        *,
        min_face_size: int = 30,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        max_side: int | None = 800,
        equalize: bool = False,
        cascade_path: str | Path | None = None,
        min_score: float = default_min_score,
    ) -> None:
        """Configure the detector (the cascade file is read on first use, once per thread).

        Args:
            min_face_size: smallest face side reported, in pixels of the input image.
            min_score: drop faces scored below this (0..1); 0 keeps every box the cascade accepts.
            scale_factor: image pyramid step (> 1); smaller is slower but finds more sizes.
            min_neighbors: overlapping hits needed to keep a face; higher gives fewer false faces.
            max_side: frames with a longer side are shrunk to it before detection (for speed);
                boxes are mapped back to full resolution. ``None`` never shrinks.
            equalize: histogram-equalise the gray frame first. Off by default: the cascade already
                normalises contrast per window, and global equalisation can wash out a face.
            cascade_path: a cascade XML file; default OpenCV's ``haarcascade_frontalface_default.xml``.
        """
        _check_common(min_face_size, max_side)
        check_score(min_score)
        if not scale_factor > 1.0:
            raise ValueError(f"scale_factor must be > 1 (e.g. 1.1), got {scale_factor!r}")
        if min_neighbors < 0:
            raise ValueError(f"min_neighbors must be >= 0, got {min_neighbors!r}")
        if cascade_path is None:
            data_dir = getattr(getattr(cv2, "data", None), "haarcascades", None)
            if not data_dir:
                raise ModelLoadError(
                    "this OpenCV build ships no Haar cascades (cv2.data); install opencv-python-headless>=4.9,<5"
                )
            cascade_path = Path(data_dir) / "haarcascade_frontalface_default.xml"
        self.cascade_path = Path(cascade_path)
        if not self.cascade_path.is_file():
            raise ModelLoadError(
                f"Haar cascade file not found: {self.cascade_path}; install opencv-python-headless>=4.9,<5"
            )
        self.min_face_size = int(min_face_size)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.max_side = max_side
        self.equalize = equalize
        self.min_score = float(min_score)
        self._local = threading.local()

    def __repr__(self) -> str:
        return (
            f"HaarDetector(min_face_size={self.min_face_size}, scale_factor={self.scale_factor}, "
            f"min_neighbors={self.min_neighbors}, max_side={self.max_side}"
            f"{f', min_score={self.min_score}' if self.min_score else ''})"
        )

    def _classifier(self) -> cv2.CascadeClassifier:
        classifier = getattr(self._local, "classifier", None)
        if classifier is None:
            classifier = cv2.CascadeClassifier(str(self.cascade_path))
            if classifier.empty():
                raise ModelLoadError(f"cannot load Haar cascade {self.cascade_path} (corrupt file?)")
            self._local.classifier = classifier
        return classifier

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR (or gray) ``uint8`` image, left to right."""
        gray = to_gray(image_bgr)
        scale = _downscale_factor(gray.shape, self.max_side)
        small = gray if scale == 1.0 else cv2.resize(
            gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
        if self.equalize:
            small = cv2.equalizeHist(small)
        min_side = max(1, int(self.min_face_size * scale))
        rects, _levels, weights = self._classifier().detectMultiScale3(
            small,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        raw = [
            (tuple(rect), score)
            for rect, weight in zip(rects, weights)
            if (score := 1.0 / (1.0 + math.exp(-float(weight) / 2.0))) >= self.min_score
        ]
        return _finish(raw, scale=scale, image_shape=gray.shape, min_face_size=self.min_face_size)


class MTCNNDetector:
    """MTCNN from the ``mtcnn`` 1.x package (weights ship in its wheel; runs offline on TensorFlow).

    More accurate than Haar on turned or partly hidden faces, and slower (about 0.15 s for a
    640x480 frame on one slow CPU core). The network is built on the first ``detect`` call; calls are
    serialised with a lock because the package keeps no per-call state guarantees.

    Boxes are MTCNN's (taller than wide); :func:`core.preprocess.crop_faces` squares them. The
    score is the last network's (ONet's): ``min_score`` is that network's own threshold, so any value
    reaches it (its first two networks keep their own thresholds, 0.6 and 0.7, on their own scores).
    """

    name = "mtcnn"
    video_options: Mapping[str, Any] = MappingProxyType({"max_side": VIDEO_MAX_SIDE})
    default_min_score: float = 0.9
    """``min_score`` when none is given (the package's own ONet threshold is 0.8)."""

    def __init__(
        self,
        *,
        min_face_size: int = 30,
        min_score: float = default_min_score,
        max_side: int | None = 800,
        device: str = "CPU:0",
    ) -> None:
        """Configure the detector (TensorFlow and the networks load on first use).

        Args:
            min_face_size: smallest face side reported, in pixels of the input image.
            min_score: drop faces whose MTCNN confidence is below this (0..1): ONet's threshold.
            max_side: frames with a longer side are shrunk to it first; ``None`` never shrinks.
            device: TensorFlow device for the networks, e.g. ``"CPU:0"`` or ``"GPU:0"``.
        """
        _check_common(min_face_size, max_side)
        check_score(min_score)
        self.min_face_size = int(min_face_size)
        self.min_score = float(min_score)
        self.max_side = max_side
        self.device = device
        self._lock = threading.Lock()
        self._mtcnn: Any = None

    def __repr__(self) -> str:
        return (
            f"MTCNNDetector(min_face_size={self.min_face_size}, min_score={self.min_score}, max_side={self.max_side})"
        )

    def _network(self) -> Any:
        # Called with self._lock held.
        if self._mtcnn is None:
            try:
                from mtcnn import MTCNN  # noqa: PLC0415 - imports TensorFlow; only when used
            except ImportError as exc:
                raise ModelLoadError(
                    f"the MTCNN detector needs the mtcnn package (pip install 'mtcnn>=1,<2'): {exc}"
                ) from exc
            self._mtcnn = MTCNN(stages="face_and_landmarks_detection", device=self.device)
        return self._mtcnn

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR (or gray) ``uint8`` image, left to right."""
        check_image(image_bgr)
        scale = _downscale_factor(image_bgr.shape, self.max_side)
        bgr = to_bgr(image_bgr)
        if scale != 1.0:
            bgr = cv2.resize(
                bgr, (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )
        height, width = bgr.shape[:2]
        if min(height, width) < _MTCNN_MIN_INPUT:
            return []
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        wanted = max(1.0, self.min_face_size * scale)
        with self._lock:
            faces = self._network().detect_faces(
                rgb, min_face_size=_mtcnn_safe_min_face_size(height, width, wanted), threshold_onet=self.min_score
            )
        raw = [
            (tuple(float(v) for v in face["box"]), float(face["confidence"]))
            for face in faces
            if float(face["confidence"]) >= self.min_score
        ]
        return _finish(raw, scale=scale, image_shape=image_bgr.shape, min_face_size=self.min_face_size)


ASSETS_DIR = Path(__file__).resolve().parent / "assets"


class _BlazeFaceSpec(NamedTuple):
    file: str
    size: int  # square input side
    strides: tuple[int, ...]  # one SSD layer per stride; equal strides share a grid
    anchors_per_layer: int  # 2 with MediaPipe's interpolated scale, else 1
    min_score: float  # MediaPipe's own threshold for this model


# MediaPipe's face_detection_short_range / _full_range graphs (SSD anchor and decoder options).
_BLAZEFACE_MODELS: Mapping[str, _BlazeFaceSpec] = MappingProxyType({
    "short": _BlazeFaceSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5),
    "full": _BlazeFaceSpec("face_detection_full_range.tflite", 192, (4,), 1, 0.6),
})  # fmt: skip

# NMS overlap above which boxes are merged (MediaPipe: weighted NMS, 0.3).
_BLAZEFACE_NMS_IOU = 0.3


def _ssd_anchor_centres(spec: _BlazeFaceSpec) -> np.ndarray:
    """``(N, 2)`` anchor centres in 0..1, in the network's output order (all anchors are 1x1)."""
    centres = []
    i = 0
    while i < len(spec.strides):
        stride = spec.strides[i]
        j = i
        while j < len(spec.strides) and spec.strides[j] == stride:
            j += 1
        cells = math.ceil(spec.size / stride)
        per_cell = (j - i) * spec.anchors_per_layer
        ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32)
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
        i = j
    return np.concatenate(centres).astype(np.float32)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted NMS: each kept box is the score-weighted mean of the boxes it absorbs."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    alive = np.ones(len(boxes), dtype=bool)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    out = []
    for k in range(len(boxes)):
        if not alive[k]:
            continue
        x0 = np.maximum(boxes[k, 0], boxes[:, 0])
        y0 = np.maximum(boxes[k, 1], boxes[:, 1])
        x1 = np.minimum(boxes[k, 2], boxes[:, 2])
        y1 = np.minimum(boxes[k, 3], boxes[:, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        overlap = inter / np.maximum(areas[k] + areas - inter, 1e-9)
        group = alive & (overlap > iou)
        group[k] = True
        weights = scores[group]
        out.append(((boxes[group] * weights[:, None]).sum(axis=0) / weights.sum(), float(scores[k])))
        alive &= ~group
    return out


class BlazeFaceDetector:
    """MediaPipe's BlazeFace, served by LiteRT: a few milliseconds a frame on one core.

    Two networks: ``"short"`` (128x128 input) for faces within about 2 m of a camera, the webcam
    case; ``"full"`` (192x192) for faces anywhere in a photo, down to about 1/20 of its long side.
    The frame is letterboxed into the network's square input, so nothing is cut off. Each thread gets
    its own interpreter. The score is the network's sigmoid face probability.

    Its boxes frame a face about as FER2013's crops do (on FER2013 faces pasted into a frame, the
    box side is 0.98 of the pasted face's, median of 24), so crops need no rescaling for the model.
    Against Haar on a real photo it also finds faces turned 35 degrees in the image plane; the short
    model misses faces under about 60 px in a 640x480 frame, the full model finds them down to about 40.
    """

    name = "blazeface"
    video_options: Mapping[str, Any] = MappingProxyType({"model": "short"})
    default_min_score: float = _BLAZEFACE_MODELS["full"].min_score
    """``min_score`` of the photo network (``"full"``, the default ``model``) when none is given: MediaPipe's."""

    def __init__(
        self,
        *,
        model: str = "full",
        min_face_size: int = 30,
        min_score: float | None = None,
        model_path: str | Path | None = None,
    ) -> None:
        """Configure the detector (LiteRT and the network load on first use, once per thread).

        Args:
            model: ``"short"`` (webcam range, fastest) or ``"full"`` (whole photos).
            min_face_size: smallest face side reported, in pixels of the input image.
            min_score: drop faces scored below this (0..1); default MediaPipe's (0.5 short, 0.6 full).
            model_path: another ``.tflite`` file with the same inputs and outputs as ``model``'s.
        """
        _check_common(min_face_size, None)
        if model not in _BLAZEFACE_MODELS:
            raise ValueError(f"BlazeFace model must be one of {', '.join(_BLAZEFACE_MODELS)}, got {model!r}")
        spec = _BLAZEFACE_MODELS[model]
        if min_score is None:
            min_score = spec.min_score
        check_score(min_score)
        self.model = model
        self.spec = spec
        self.model_path = Path(model_path) if model_path is not None else ASSETS_DIR / spec.file
        if not self.model_path.is_file():
            raise ModelLoadError(f"BlazeFace model file not found: {self.model_path}")
        self.min_face_size = int(min_face_size)
        self.min_score = float(min_score)
        # Scores are compared as logits: sigmoid only for the few boxes kept.
        self._min_logit = math.log(self.min_score / (1.0 - self.min_score)) if 0.0 < self.min_score < 1.0 else (
            -math.inf if self.min_score <= 0.0 else math.inf
        )
        self._anchors = _ssd_anchor_centres(spec)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"BlazeFaceDetector(model={self.model!r}, min_face_size={self.min_face_size}, min_score={self.min_score})"

    def _state(self) -> Any:
        state = self._local
        if getattr(state, "interpreter", None) is None:
            from core.litert import interpreter_class  # noqa: PLC0415 - LiteRT only when used

            try:
                interpreter = interpreter_class()(model_path=str(self.model_path), num_threads=1)
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelLoadError(f"cannot load BlazeFace model {self.model_path} (corrupt file?): {exc}") from exc
            inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
            size = self.spec.size
            shapes = sorted(tuple(int(v) for v in o["shape"]) for o in outputs)
            expected = sorted([(1, len(self._anchors), 1), (1, len(self._anchors), 16)])
            if len(inputs) != 1 or tuple(inputs[0]["shape"]) != (1, size, size, 3) or shapes != expected:
                raise ModelLoadError(f"{self.model_path} is not a BlazeFace {self.model!r} model")
            by_width = {int(o["shape"][2]): o["index"] for o in outputs}
            state.input, state.boxes, state.scores = inputs[0]["index"], by_width[16], by_width[1]
            # Reused every frame: the letterboxed RGB frame, and the float input built from it.
            state.canvas = np.zeros((size, size, 3), np.uint8)
            state.tensor = np.zeros((1, size, size, 3), np.float32)
            state.interpreter = interpreter
        return state

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR (or gray) ``uint8`` image, left to right."""
        check_image(image_bgr)
        bgr = to_bgr(image_bgr) if image_bgr.ndim == 2 or image_bgr.shape[2] != 3 else image_bgr
        height, width = bgr.shape[:2]
        state = self._state()
        size = self.spec.size
        # Letterbox: shrink the long side to ``size``, centre, pad with black.
        scale = size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        off_x, off_y = (size - new_w) // 2, (size - new_h) // 2
        canvas = state.canvas
        canvas[:] = 0
        canvas[off_y : off_y + new_h, off_x : off_x + new_w] = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)
        tensor = state.tensor
        np.multiply(canvas[:, :, ::-1], 1.0 / 127.5, out=tensor[0], casting="unsafe")
        tensor -= 1.0
        interpreter = state.interpreter
        interpreter.set_tensor(state.input, tensor)
        interpreter.invoke()
        logits = interpreter.get_tensor(state.scores)[0, :, 0]
        keep = np.flatnonzero(logits >= self._min_logit)
        if keep.size == 0:
            return []
        raw = interpreter.get_tensor(state.boxes)[0, keep, :4] / size
        centres = self._anchors[keep] + raw[:, :2]
        half = raw[:, 2:4] * 0.5
        corners = np.concatenate([centres - half, centres + half], axis=1)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100.0, 100.0)))
        found = []
        for (x0, y0, x1, y1), score in _weighted_nms(corners, scores, _BLAZEFACE_NMS_IOU):
            # From the network's 0..1 square back to the frame's pixels.
            left, top = (x0 * size - off_x) / scale, (y0 * size - off_y) / scale
            found.append(((left, top, (x1 - x0) * size / scale, (y1 - y0) * size / scale), score))
        return _finish(found, scale=1.0, image_shape=bgr.shape, min_face_size=self.min_face_size)


YUNET_FILE = "yunet/face_detection_yunet_2026may.onnx"

YUNET_SCALES: tuple[int, ...] = (320, 640, 1280)
"""Long sides, in pixels, that :class:`YuNetDetector` runs a still image at (never above its own size).

YuNet finds faces of about 10 to 300 pixels best. On the project's sample photos (10 photos, 12 faces
counted by hand) no one size fits: the gray 2560x1912 photo's turned face scores 0.64 at 320, 0.80
at 640 and 0.53 at 1280; a face filling a frame needs a small copy, a 20-pixel face in a group photo
the full one. Together the three sizes find every sample face at a score of 0.80 or more and,
down to a threshold of 0.2, nothing in the two photos without a face. On a 640x480 photo only 320
and 640 run. The drawn test face (``tests/core/faces.py``) is found from about 23 px wide up to a
face filling the frame in 640x480, and from about 76 px wide in a 4000x3000 image (a real face
from about 35 px: 1280 is the largest size run). ``small_faces=True`` (the CLI's ``--small-faces``,
the upload page's "Find small faces") adds full-resolution tiles: real faces from about 20-25 px
in a 12-megapixel photo, the drawn one from about 36 px, for about ten times the detection time.
"""

YUNET_MIN_SCORE: float = 0.6
"""Default score threshold of :class:`YuNetDetector` (after merging the scales).

Chosen on the samples (real faces scored 0.80-0.95 at their best scale, nothing else reached
0.2) and on 1789 FER2013 faces upscaled to 96-240 px and pasted into noisy gray 640x480 scenes
(``python -m benchmarks.yunet_framing``): 98.8% are found at 0.3 and 97.5% at 0.6, the 5th
percentile of their scores is 0.83, and the one detection in the noisy backgrounds scored 0.30.
0.6 keeps the turned gray sample face (0.80) with margin.
"""

YUNET_NMS_IOU: float = 0.3
# A box this much inside a surer one is the same face seen at another scale (e.g. a mouth at 1280).
_YUNET_CONTAINED = 0.7
_YUNET_MIN_SIDE = 64  # YuNet's input sides: at 32 px or less it returns garbage (see _pad_to_min_side)
# small_faces: pixels shared by neighbouring full-resolution tiles, and the largest face taken from them.
_YUNET_TILE_OVERLAP = 128


@dataclass(frozen=True)
class FaceChecks:
    """Rules a YuNet box must pass besides its score, so animals, objects and repeats are not faces.

    Chosen on material with known counts (``python -m benchmarks.false_faces``, ``docs/detection.md``):
    the 12 faces of the sample photos, 591 posed one-face photos, FER2013 faces pasted into scenes
    down to 30 px, scikit-image's images and made animal faces, masks and patterns. At the default
    score (0.6) they keep every face found there and drop the cat faces YuNet scored 0.67 and 0.72.

    Attributes:
        scales: a box must be found at every scale where it would be at least ``scale_min_side``
            pixels across (a real face seen at 640 px is seen at 320 too; a cat's face was not).
            No effect on images that run at one size only.
        scale_min_side: smallest side, in pixels at a scale, at which a face must be found there.
            Real faces were missed at a scale only where they were 64 px or less.
        landmarks: the five points must look like a face: all inside the box, eyes in order,
            apart and within 60 degrees of level, the nose below the eyes, the mouth below the nose.
        duplicates: drop a box that holds most of a surer face (the same face seen again, larger).
    """

    scales: bool = True
    scale_min_side: int = 96
    landmarks: bool = True
    duplicates: bool = True

    def __post_init__(self) -> None:
        for name in ("scales", "landmarks", "duplicates"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"FaceChecks.{name} must be True or False, got {getattr(self, name)!r}")
        side = self.scale_min_side
        if not isinstance(side, (int, np.integer)) or isinstance(side, bool) or side < 20:
            raise ValueError(f"FaceChecks.scale_min_side must be a whole number of pixels >= 20, got {side!r}")


NO_CHECKS = FaceChecks(scales=False, landmarks=False, duplicates=False)
"""Score and NMS only: YuNet as it was before issue 25."""

DROP_RULES: tuple[str, ...] = ("scales", "landmarks", "duplicates")
"""The names a :class:`Dropped` box's ``rule`` takes from YuNet's face checks, in the order the rules run
(the face verifier's second look, behind every photo detector, adds :data:`core.verifier.RULE`)."""


class Dropped(NamedTuple):
    """A box that passed the score threshold but a :class:`FaceChecks` rule dropped, and why."""

    detection: Detection
    rule: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form ``{"box", "detection_score", "rule", "reason"}``."""
        return {
            "box": [int(v) for v in self.detection.box], "detection_score": round(self.detection.score, 6),
            "rule": self.rule, "reason": self.reason,
        }  # fmt: skip


class DetectionReport(NamedTuple):
    """What :meth:`YuNetDetector.examine` found: the faces, and the boxes the checks dropped."""

    faces: list[Detection]
    dropped: list[Dropped]


def examine(detector: FaceDetector, image_bgr: np.ndarray) -> DetectionReport:
    """A detector's faces and, where it has face checks (YuNet), the boxes they dropped; others drop none."""
    method = getattr(detector, "examine", None)
    if callable(method):
        return method(image_bgr)
    return DetectionReport(detector.detect(image_bgr), [])


# Landmark geometry, in eye distances from the midpoint of the eyes along and across the eye line.
# On 958 real faces of the development material: eye distance 0.22-0.59 of the box width, tilt up
# to 26 degrees, nose 0.33-1.14 below the eye line, mouth 0.74-2.28 below it and at least 0.23
# below the nose, mouth corners 0.66-0.99 apart, every point inside the box. The limits leave margin.
_EYES_APART = (0.15, 0.8)
_MAX_TILT_DEGREES = 60.0
_NOSE_BELOW = (0.1, 1.8)
_MOUTH_BELOW_NOSE = 0.1
_MOUTH_BELOW_MAX = 3.0
_MOUTH_APART_MIN = 0.3
_OUTSIDE_TOLERANCE = 0.05  # of the box's longer side
# A box found at a scale: overlap with the box checked.
_SCALE_MATCH_IOU = 0.3
# A box holding this much of a surer box is that face again.
_DUPLICATE_HOLDS = 0.7


def landmark_problem(box: Box | tuple[float, ...], points: Landmarks) -> str | None:
    """Why five YuNet landmarks do not look like a face in ``box``, or ``None`` when they do."""
    x, y, w, h = (float(v) for v in box)
    pts = np.asarray(points, dtype=np.float64).reshape(5, 2)
    tolerance = _OUTSIDE_TOLERANCE * max(w, h)
    outside = [
        LANDMARK_NAMES[i] for i, (px, py) in enumerate(pts)
        if not (x - tolerance <= px <= x + w + tolerance and y - tolerance <= py <= y + h + tolerance)
    ]  # fmt: skip
    if outside:
        return f"{', '.join(outside).replace('_', ' ')} outside the box"
    right_eye, left_eye, nose, right_mouth, left_mouth = pts
    across = left_eye - right_eye
    apart = float(np.hypot(*across))
    if not _EYES_APART[0] * w <= apart <= _EYES_APART[1] * w:
        return f"eyes {apart / max(w, 1e-9):.2f} of the box width apart (a face: {_EYES_APART[0]}-{_EYES_APART[1]})"
    unit = across / apart
    down = np.array([-unit[1], unit[0]])
    tilt = math.degrees(math.atan2(unit[1], unit[0]))
    if abs(tilt) > _MAX_TILT_DEGREES:
        return f"eye line tilted {abs(tilt):.0f} degrees (a face: up to {_MAX_TILT_DEGREES:.0f})"
    middle = (right_eye + left_eye) / 2
    nose_below = float((nose - middle) @ down) / apart
    mouth_below = float(((right_mouth + left_mouth) / 2 - middle) @ down) / apart
    if not _NOSE_BELOW[0] <= nose_below <= _NOSE_BELOW[1]:
        return f"nose {nose_below:.2f} eye distances below the eyes (a face: {_NOSE_BELOW[0]}-{_NOSE_BELOW[1]})"
    if not nose_below + _MOUTH_BELOW_NOSE <= mouth_below <= _MOUTH_BELOW_MAX:
        return (
            f"mouth {mouth_below:.2f} eye distances below the eyes, nose {nose_below:.2f} "
            "(the mouth must be below the nose)"
        )
    if float((left_mouth - right_mouth) @ unit) / apart < _MOUTH_APART_MIN:
        return "mouth corners not side by side under the eyes"
    return None


def _iou_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``x, y, w, h`` box with each of ``(N, 4)`` boxes."""
    inter = np.clip(
        np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None
    ) * np.clip(np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    return inter / np.maximum(box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter, 1e-9)


def _holds(outer: Box, inner: Box) -> float:
    """The share of ``inner``'s area that lies inside ``outer``."""
    iw = max(0, min(outer[0] + outer[2], inner[0] + inner[2]) - max(outer[0], inner[0]))
    ih = max(0, min(outer[1] + outer[3], inner[1] + inner[3]) - max(outer[1], inner[1]))
    return iw * ih / max(inner[2] * inner[3], 1)


def _merge_boxes(
    boxes: np.ndarray, scores: np.ndarray, *, iou: float, contained: float
) -> list[int]:
    """Greedy NMS over ``(N, 4)`` ``x, y, w, h`` boxes: indices kept, surest first.

    A box is dropped when its IoU with a kept box exceeds ``iou``, or when more than ``contained``
    of its own area lies inside a kept box.
    """
    order = np.argsort(-scores, kind="stable")
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    areas = np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)
    alive = np.ones(len(boxes), dtype=bool)
    kept = []
    for k in order:
        if not alive[k]:
            continue
        kept.append(int(k))
        inter = np.clip(np.minimum(x1[k], x1) - np.maximum(x0[k], x0), 0, None) * np.clip(
            np.minimum(y1[k], y1) - np.maximum(y0[k], y0), 0, None
        )
        overlap = inter / (areas[k] + areas - inter)
        alive &= ~((overlap > iou) | (inter / areas > contained))
        alive[k] = False
    return kept


def _pad_to_min_side(image: np.ndarray) -> np.ndarray:
    """``image`` with black added below and to the right until each side is :data:`_YUNET_MIN_SIDE`.

    YuNet's coarsest feature map has a stride of 32; with an input side of 32 px or less OpenCV's
    ``FaceDetectorYN`` returns rows of garbage (infinite boxes scored 1.0, differently from run to
    run; measured on flat and noise images from 1x5 to 320x32, none above 32). Padding at the far
    edges leaves every coordinate where it was; an image with both sides of 64 or more is returned
    as it is.
    """
    height, width = image.shape[:2]
    if height >= _YUNET_MIN_SIDE and width >= _YUNET_MIN_SIDE:
        return image
    return cv2.copyMakeBorder(
        image,
        0,
        max(0, _YUNET_MIN_SIDE - height),
        0,
        max(0, _YUNET_MIN_SIDE - width),
        cv2.BORDER_CONSTANT,
        value=(0, 0, 0),
    )


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``INTER_AREA`` resize to ``(width, height)``, by a whole factor first where it can.

    OpenCV's area resize is about 6x faster for a whole-number factor given as ``fx``/``fy``
    (33 ms against 190 ms from 4000x3000 to about 1280 here); the small rest is cheap.
    """
    factor = int(min(image.shape[1] / size[0], image.shape[0] / size[1]))
    if factor >= 2:
        image = cv2.resize(image, None, fx=1.0 / factor, fy=1.0 / factor, interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class YuNetDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``): fast, finds turned and small faces, gives 5 landmarks.

    A still image runs at each of ``scales`` (long sides, see :data:`YUNET_SCALES`); the boxes are
    mapped back to full resolution and merged with non-maximum suppression, so both a 20-pixel face
    in a group photo and a face filling the frame are found. ``cv2.FaceDetectorYN`` keeps its input
    size as state and is not safe to share, so each thread gets its own instance. The score is
    YuNet's face confidence (0..1). The weights ship in ``core/assets/yunet/`` (MIT licence).

    ``small_faces`` adds a pass at the photo's own resolution, in overlapping tiles of the largest
    scale's side (memory of one such pass, not of the whole photo), for faces too small to survive
    the shrinking: in a 12-megapixel photo the scales find faces from about 35 px across, the tiles
    from about 20 px, for several times the time.
    """

    name = "yunet"
    video_options: Mapping[str, Any] = MappingProxyType({"scales": (VIDEO_MAX_SIDE,)})
    default_min_score: float = YUNET_MIN_SCORE
    """``min_score`` when none is given; any lower value reaches the network (its own threshold follows it)."""

    def __init__(
        self,
        *,
        min_face_size: int = 20,
        min_score: float = YUNET_MIN_SCORE,
        scales: tuple[int, ...] | list[int] = YUNET_SCALES,
        nms_iou: float = YUNET_NMS_IOU,
        small_faces: bool = False,
        checks: FaceChecks = FaceChecks(),
        model_path: str | Path | None = None,
    ) -> None:
        """Configure the detector (the network loads on first use, once per thread).

        Args:
            min_face_size: smallest face side reported, in pixels of the input image.
            min_score: drop faces scored below this (0..1).
            scales: long sides in pixels to run at (each >= 64); an image smaller than a scale runs
                at its own size, once.
            nms_iou: overlap above which two boxes are one face.
            small_faces: also run a photo larger than the largest scale at its own resolution, in
                tiles (faces down to about 20 px; several times slower on a large photo).
            checks: the rules a box must pass besides its score (:class:`FaceChecks`);
                :data:`NO_CHECKS` keeps every box above ``min_score``.
            model_path: another YuNet ``.onnx`` file.
        """
        _check_common(min_face_size, None)
        check_score(min_score)
        if not 0.0 < nms_iou < 1.0:
            raise ValueError(f"nms_iou must be between 0 and 1, got {nms_iou!r}")
        scales = tuple(scales)
        if not scales or any(
            not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 64 for s in scales
        ):
            raise ValueError(f"scales must be one or more long sides in pixels, each >= 64, got {scales!r}")
        self.model_path = Path(model_path) if model_path is not None else ASSETS_DIR / YUNET_FILE
        if not self.model_path.is_file():
            raise ModelLoadError(f"YuNet model file not found: {self.model_path}")
        self.min_face_size = int(min_face_size)
        self.min_score = float(min_score)
        self.scales = tuple(sorted({int(s) for s in scales}))
        self.nms_iou = float(nms_iou)
        if not isinstance(small_faces, (bool, np.bool_)):
            raise ValueError(f"small_faces must be True or False, got {small_faces!r}")
        self.small_faces = bool(small_faces)
        if not isinstance(checks, FaceChecks):
            raise ValueError(f"checks must be a FaceChecks, got {type(checks).__name__}")
        self.checks = checks
        # Networks kept per thread: every scale of two photo sizes (and the tiles' one).
        self._max_networks = 2 * len(self.scales) + int(self.small_faces)
        self._local = threading.local()

    def __repr__(self) -> str:
        return (
            f"YuNetDetector(min_face_size={self.min_face_size}, min_score={self.min_score}, "
            f"scales={self.scales}{', small_faces=True' if self.small_faces else ''}"
            f"{'' if self.checks == FaceChecks() else f', checks={self.checks}'})"
        )

    def _network(self, size: tuple[int, int]) -> Any:
        """This thread's network for input ``size`` (width, height).

        OpenCV re-plans the whole network whenever its input size changes (about 40 ms at 1280x960
        on one core, half the pass itself), so each thread keeps one network per size it met
        lately: a photo's three scales, and the next photo of the same size, run without re-planning.
        """
        networks = getattr(self._local, "networks", None)
        if networks is None:
            networks = self._local.networks = OrderedDict()
        network = networks.get(size)
        if network is not None:
            networks.move_to_end(size)
            return network
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ModelLoadError("this OpenCV build has no cv2.FaceDetectorYN; install opencv-python-headless>=4.9,<5")
        try:
            # Score threshold low here: the real one applies after the scales are merged.
            network = cv2.FaceDetectorYN.create(str(self.model_path), "", size, min(self.min_score, 0.3), 0.3, 5000)
        except cv2.error as exc:
            raise ModelLoadError(f"cannot load YuNet model {self.model_path} (corrupt file?): {exc}") from exc
        networks[size] = network
        while len(networks) > self._max_networks:
            networks.popitem(last=False)
        return network

    def _sizes(self, height: int, width: int) -> list[float]:
        """Downscale factors, one per distinct size the image runs at (1.0 at most)."""
        longest = max(height, width)
        return sorted({min(1.0, side / longest) for side in self.scales})

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR (or gray/BGRA) ``uint8`` image, left to right, each with 5 landmarks."""
        return self.examine(image_bgr).faces

    def examine(self, image_bgr: np.ndarray) -> DetectionReport:
        """:meth:`detect`'s faces, and the boxes above ``min_score`` that :attr:`checks` dropped, with why."""
        check_image(image_bgr)
        bgr = to_bgr(image_bgr)
        height, width = bgr.shape[:2]
        rows, passes = [], []
        small = bgr
        # Largest size first, each smaller copy shrunk from the previous one: a 12-megapixel photo
        # is read once, not once per scale.
        for scale in reversed(self._sizes(height, width)):
            if scale != 1.0:
                small = shrink(small, (max(1, round(width * scale)), max(1, round(height * scale))))
            passes.append((scale, max(small.shape[:2])))
            padded = _pad_to_min_side(small)
            _ok, faces = self._network((padded.shape[1], padded.shape[0])).detect(padded)
            if faces is not None and len(faces):
                faces = np.asarray(faces, dtype=np.float64).reshape(-1, 15)
                faces = faces[np.isfinite(faces).all(axis=1)]
                # x, y, w, h and the 10 landmark coordinates scale alike; the score does not.
                faces[:, :14] *= np.array([width / small.shape[1], height / small.shape[0]] * 7)
                rows.append(np.c_[faces, np.full(len(faces), len(passes) - 1)])
        if self.small_faces and max(height, width) > self.scales[-1]:
            rows.extend(np.c_[faces, np.full(len(faces), -1)] for faces in self._tile_faces(bgr))
        if not rows:
            return DetectionReport([], [])
        every = np.concatenate(rows)  # column 15: the pass (index into passes; -1 for a tile)
        faces = every[every[:, 14] >= self.min_score]
        found: list[Detection] = []
        dropped: list[Dropped] = []
        for k in _merge_boxes(faces[:, :4], faces[:, 14], iou=self.nms_iou, contained=_YUNET_CONTAINED):
            box = clip_box(faces[k, :4], bgr.shape)
            if box is None or min(box[2], box[3]) < self.min_face_size:
                continue
            points = tuple((float(faces[k, 4 + 2 * i]), float(faces[k, 5 + 2 * i])) for i in range(5))
            detection = Detection(box, float(min(1.0, max(0.0, faces[k, 14]))), points)
            problem = self._check(faces[k], every, passes)
            if problem is None:
                found.append(detection)
            else:
                dropped.append(Dropped(detection, *problem))
        if self.checks.duplicates:
            found, dropped = _drop_duplicates(found, dropped)
        found.sort(key=lambda d: (d.box[0], d.box[1]))
        dropped.sort(key=lambda d: (d.detection.box[0], d.detection.box[1]))
        return DetectionReport(found, dropped)

    def _check(
        self, face: np.ndarray, every: np.ndarray, passes: list[tuple[float, int]]
    ) -> tuple[str, str] | None:
        """``(rule, reason)`` of the first :attr:`checks` rule one merged box fails, else ``None``."""
        if self.checks.scales and len(passes) > 1:
            side = min(face[2], face[3])
            for index, (scale, long_side) in enumerate(passes):
                if side * scale < self.checks.scale_min_side:
                    continue
                same_pass = every[every[:, 15] == index]
                if not len(same_pass) or _iou_many(face[:4], same_pass[:, :4]).max() <= _SCALE_MATCH_IOU:
                    return "scales", (
                        f"not found at the {long_side}-px pass, where it would be {side * scale:.0f} px across"
                    )
        if self.checks.landmarks:
            problem = landmark_problem(face[:4], tuple(map(tuple, face[4:14].reshape(5, 2))))
            if problem is not None:
                return "landmarks", problem
        return None

    def _tile_faces(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Faces at full resolution, tile by tile; only those small enough to lie whole in a tile's overlap.

        Tiles are squares of the largest scale's side, overlapping by :data:`_YUNET_TILE_OVERLAP`, so
        every face up to that size lies whole in at least one tile; larger faces are the scales' to
        find. A photo narrower than a tile is padded, so one network serves every tile.
        """
        height, width = bgr.shape[:2]
        side = self.scales[-1]
        network = self._network((side, side))
        rows = []
        for top in _tile_starts(height, side, _YUNET_TILE_OVERLAP):
            for left in _tile_starts(width, side, _YUNET_TILE_OVERLAP):
                tile = bgr[top : top + side, left : left + side]
                if tile.shape[0] < side or tile.shape[1] < side:
                    tile = cv2.copyMakeBorder(
                        tile, 0, side - tile.shape[0], 0, side - tile.shape[1], cv2.BORDER_CONSTANT, value=(0, 0, 0)
                    )
                _ok, faces = network.detect(np.ascontiguousarray(tile))
                if faces is None or not len(faces):
                    continue
                faces = np.asarray(faces, dtype=np.float64).reshape(-1, 15)
                faces = faces[np.isfinite(faces).all(axis=1)]
                faces = faces[np.maximum(faces[:, 2], faces[:, 3]) <= _YUNET_TILE_OVERLAP]
                faces[:, :14] += np.array([left, top, 0, 0] + [left, top] * 5)  # x, y, w, h, 5 points
                rows.append(faces)
        return rows


def _tile_starts(length: int, side: int, overlap: int) -> list[int]:
    """Offsets of tiles of ``side`` covering ``length`` with at least ``overlap`` shared; the last ends at the edge."""
    if length <= side:
        return [0]
    step = side - overlap
    starts = list(range(0, length - side, step))
    return [*starts, length - side]


def _drop_duplicates(found: list[Detection], dropped: list[Dropped]) -> tuple[list[Detection], list[Dropped]]:
    """Move to ``dropped`` each face whose box holds most of a surer face's box (that face seen again)."""
    kept: list[Detection] = []
    for face in sorted(found, key=lambda d: -d.score):
        surer = next((k for k in kept if _holds(face.box, k.box) > _DUPLICATE_HOLDS), None)
        if surer is None:
            kept.append(face)
        else:
            x, y = surer.box[:2]
            reason = f"holds most of the surer face at x={x}, y={y} ({surer.score:.2f})"
            dropped.append(Dropped(face, "duplicates", reason))
    return kept, dropped


# MTCNN's first network (PNet) looks at 12x12 windows.
_MTCNN_MIN_INPUT = 12
_MTCNN_SCALE_FACTOR = 0.709


def _mtcnn_safe_min_face_size(height: int, width: int, wanted: float) -> int:
    """The largest ``min_face_size`` up to ``wanted`` that mtcnn 1.0 handles for this frame size.

    mtcnn 1.0 sizes its image pyramid from the frame alone, so a ``min_face_size`` above roughly 20
    makes its smallest level shrink below 12 pixels; the resulting TensorFlow error is swallowed and
    *no faces* are returned. Cap the value here and filter small faces afterwards instead.
    """
    min_dim = min(height, width)
    count = round(-((math.log(min_dim / _MTCNN_MIN_INPUT) / math.log(_MTCNN_SCALE_FACTOR)) + 1))
    safe = min_dim * _MTCNN_SCALE_FACTOR ** max(0, count - 1)
    return max(_MTCNN_MIN_INPUT, min(int(wanted), int(math.floor(safe))))


DETECTORS: Mapping[str, Callable[..., FaceDetector]] = MappingProxyType(
    {
        HaarDetector.name: HaarDetector,
        MTCNNDetector.name: MTCNNDetector,
        BlazeFaceDetector.name: BlazeFaceDetector,
        YuNetDetector.name: YuNetDetector,
    }
)
"""Detector factories by name; ``get_detector(name, **options)`` builds one."""

def video_detector(name: str | None = None, **options: Any) -> FaceDetector:
    """A detector preset for live video: :func:`get_detector` with the detector's ``video_options``.

    Haar and MTCNN detect on a frame shrunk to :data:`VIDEO_MAX_SIDE`; BlazeFace uses its short-range
    network (MediaPipe's choice for selfie and webcam video). Options given here win. Still photos
    keep each detector's own defaults. ``name`` defaults to :func:`default_video_detector`.

    Raises:
        ValueError: unknown name (the message lists the known ones) or a bad option value.
    """
    key = default_video_detector() if name is None else str(name).strip().lower()
    factory = DETECTORS.get(key)
    for option, value in getattr(factory, "video_options", {}).items():
        options.setdefault(option, value)
    return get_detector(key, **options)


def video_preset_label(name: str) -> str:
    """How a detector's video preset reads in tables: ``"haar (video, 320 px)"``, ``"blazeface (video, short range)"``."""
    key = str(name).strip().lower()
    options = dict(getattr(DETECTORS.get(key), "video_options", {}))
    parts = [f"{options.pop('max_side')} px"] if "max_side" in options else []
    parts += [f"{value} range" if option == "model" else f"{option}={value}" for option, value in options.items()]
    return f"{key} (video{', ' if parts else ''}{', '.join(parts)})"


def default_video_detector() -> str:
    """``"blazeface"`` where LiteRT imports (about a tenth of Haar's time a frame), else ``"haar"``.

    YuNet's video preset (one 320 px pass) was measured beside it on 60 frames
    of the sample clips, one busy core: both found the same 40 faces, BlazeFace at 144
    frames/s and YuNet at 98, under the 200 frames/s asked of a webcam default, so BlazeFace stays.
    """
    from core.litert import LiteRTUnavailable, interpreter_class  # noqa: PLC0415

    try:
        interpreter_class()
    except LiteRTUnavailable:
        return HaarDetector.name
    return BlazeFaceDetector.name


def get_detector(name: str, **options: Any) -> FaceDetector:
    """Build a detector by name with its keyword options (e.g. ``min_face_size=40``).

    A bare detector, as benchmarks time them: the product builds its photo detectors with
    :func:`core.pipeline.photo_detector` and its live ones with :func:`video_detector`.

    Raises:
        ValueError: unknown name (the message lists the known ones) or a bad option value.
        TypeError: an option the detector does not take.
    """
    return DETECTORS[detector_name(name)](**options)


def detector_name(name: str) -> str:
    """``name`` as :data:`DETECTORS` spells it (case and spaces do not matter).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    key = str(name).strip().lower()
    if key not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; known detectors: {', '.join(DETECTORS)}")
    return key
