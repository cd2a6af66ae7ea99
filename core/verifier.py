"""A second look at the faces a detector is not sure of: MTCNN's O-Net on the box's own crop.

A face detector scores a dog's face, a round clock or a patch of leaves now and then as high as a
real face in a crowd (YuNet up to 0.88). :class:`VerifiedDetector` wraps any detector: the boxes it
scores :data:`VERIFY_BELOW` or more pass untouched (a confident face costs nothing), and each box
below that is cut out, squared and contrast-stretched (:func:`verifier_crop`), and shown to O-Net,
the last stage of MTCNN, trained to tell faces from what its first two stages mistook for them.
A box whose face probability is under the threshold, and whose mean with its mirrored crop's is
too (:meth:`FaceVerifier.decision_probabilities`), is dropped, with the reason, as a
:class:`core.detection.Dropped` box of rule :data:`RULE` (``--show-dropped``, "Show dropped boxes").

Chosen on the material of ``python -m benchmarks.false_faces`` (``docs/detection.md``), YuNet at
0.3 with its face checks: 958 real faces and 352 false boxes. Below 0.9 at a face probability of
0.2 it drops 304 of the 352 false boxes (18 of the 24 scored 0.6 or more) and one real face of the
958, a very dark FER2013 face pasted into a scene; a crop 15-50% larger than the box, or without
the contrast stretch, dropped fewer false boxes or more faces. Asking the mirror where the crop says
no face drops 290 (15 of the 24) and the same one face, and keeps the gray sample's turned face
wherever its box moves by 4%, which one view keeps or drops by luck. Drawn faces the detector is sure of
are not looked at; a faint drawing it is not sure of may be dropped (``verify=False`` keeps it).
Live video uses a stricter threshold, :data:`VIDEO_THRESHOLD`: every real face of the sample clips
scored 0.95 or more there, Chromium's fake camera pattern at most 0.28.

O-Net takes a dark patch beside a face, a seed head or a dog for a face now and then (0.2-0.97).
A box O-Net keeps without being sure (under :data:`PRESENCE_BELOW`) whose landmarks show a face
seen from the front (:func:`frontal`) gets a third look: MediaPipe's face-mesh network on the
box's crop with the eyes levelled (:func:`presence_crop`, as MediaPipe crops a face for it) says
whether a face is there (its face-presence output); under :data:`PRESENCE_THRESHOLD` the box is
dropped. That network was trained on faces seen from the front and reads a real face turned to
profile as no face (the gray sample's turned face: 0.003), so turned faces, and boxes without
landmarks (Haar, BlazeFace), are judged by O-Net alone.

O-Net's weights are the ``mtcnn`` package's (MIT licence), converted to ``core/assets/mtcnn_onet/``
by ``python -m training.face_verifier`` (int8 weights, 0.4 MB); the face-mesh network is
MediaPipe's ``face_landmark.tflite`` (Apache 2.0), unchanged, in ``core/assets/mediapipe_face_landmark/``.
LiteRT serves both (TensorFlow's own interpreter where LiteRT does not install), one interpreter per
thread: about 0.06 ms to cut a box and 0.11 ms for O-Net, 0.2 and 1.4 ms for the face mesh, on one core.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.detection import (
    ASSETS_DIR, Detection, DetectionReport, Dropped, FaceDetector, Landmarks, check_score, examine, shrink,
)  # fmt: skip
from core.errors import ModelLoadError
from core.preprocess import check_image, to_bgr

VERIFIER_FILE: Path = ASSETS_DIR / "mtcnn_onet" / "onet.tflite"
"""MTCNN's O-Net as LiteRT with int8 weights: ``(N, 48, 48, 3)`` RGB scaled to -1..1 in, ``(N, 2)`` not-face/face out."""

VERIFIER_SIZE = 48
"""O-Net's input side, in pixels."""

VERIFY_BELOW: float = 0.9
"""Boxes the detector scores at least this pass without a second look.

On the development material YuNet's false boxes scored at most 0.88 (a dog's face among the kept-aside
photos scored 0.88); BlazeFace's and Haar's real faces on the sample clips 0.78-1.0."""

PHOTO_THRESHOLD: float = 0.2
"""Face probability under which a photo's box is dropped (see the module's docstring)."""

VIDEO_THRESHOLD: float = 0.5
"""Face probability under which a live frame's box is dropped: webcam faces are near and large."""

PRESENCE_FILE: Path = ASSETS_DIR / "mediapipe_face_landmark" / "face_landmark.tflite"
"""MediaPipe's face-mesh network: ``(1, 192, 192, 3)`` RGB scaled to 0..1 in; 468 landmarks and a face-presence logit out."""

PRESENCE_SIZE = 192
"""The face-mesh network's input side, in pixels."""

PRESENCE_SCALE = 1.5
"""The face-mesh crop's side over the box's longer side: MediaPipe's own margin around a detected face."""

PRESENCE_BELOW: float = 0.9
"""O-Net face probability under which a kept frontal box gets the face mesh's look (see the module's docstring).

At the default detection score every box the face mesh dropped on the development material O-Net had
scored 0.65 or less; 0.98 would drop one more (a dog's face O-Net scores 0.91) but asks twice as many
real faces (the face mesh costs 1.4 ms a box: one of the crowd benchmark's faces, 0.97, would cost it 6%);
at 0.9 about one real face in nine that O-Net keeps is asked."""

PRESENCE_THRESHOLD: float = 0.2
"""Face-presence probability under which such a box is dropped.

At ``--min-score 0.3`` on the development material (``docs/detection.md``) the real faces it was asked
about scored 0.97 or more, but one tilted face YuNet mislandmarked at 0.46 (0.002); it dropped 66 of the
76 false boxes, and kept masks, monkeys', a dog's and birds' faces (0.67-1.0)."""

FRONTAL_EYES = 0.22
"""A frontal face's eyes are at least this share of its box's longer side apart (turned faces: 0.16-0.21)."""

FRONTAL_NOSE = 0.5
"""A frontal face's nose lies within this share of the eye distance of the eyes' middle, along the eye line."""

RULE = "verifier"
"""The :attr:`core.detection.Dropped.rule` of a box this verifier dropped."""

ALREADY_VERIFIED: frozenset[str] = frozenset({"mtcnn"})
"""Detectors whose own last stage is O-Net: :func:`verified` returns them as they are."""

_PAD_LEVEL = 128  # gray, O-Net's zero, where a box reaches past the image
_STRETCH_SHARES = (0.01, 0.99)  # the levels stretched to 0 and 255
_LEVELS = np.arange(256, dtype=np.float32)


def _square(image_bgr: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """The ``side``-pixel square of ``image_bgr`` centred on ``(cx, cy)``, gray where it reaches past the image.

    Only the square is copied, never the whole image.
    """
    side = max(1, round(side))
    left, top = round(cx - side / 2), round(cy - side / 2)
    height, width = image_bgr.shape[:2]
    inside = image_bgr[max(0, top) : max(0, min(height, top + side)), max(0, left) : max(0, min(width, left + side))]
    if inside.shape[:2] == (side, side):
        return inside
    if inside.size == 0:
        return np.full((side, side, 3), _PAD_LEVEL, np.uint8)
    before_y, before_x = max(0, -top), max(0, -left)
    after_y, after_x = side - before_y - inside.shape[0], side - before_x - inside.shape[1]
    return cv2.copyMakeBorder(inside, before_y, after_y, before_x, after_x, cv2.BORDER_CONSTANT, value=(_PAD_LEVEL,) * 3)


def verifier_crop(image_bgr: np.ndarray, box: tuple[int, int, int, int] | tuple[float, ...]) -> np.ndarray:
    """The square around ``box`` (side: its longer side) as O-Net's input, ``float32 (48, 48, 3)``.

    Parts outside the image are gray. The crop is shrunk with ``INTER_AREA``, its levels stretched so
    its 1st and 99th percentiles span 0..255 (a dark face looks like a lit one), turned to RGB and
    scaled to about -1..1, as MTCNN feeds O-Net. Only the crop is copied, never the whole image.
    """
    x, y, w, h = (float(v) for v in box)
    inside = _square(image_bgr, x + w / 2, y + h / 2, max(w, h))
    small = shrink(inside, (VERIFIER_SIZE, VERIFIER_SIZE))  # a large face: by a whole factor first
    # The 1st and 99th percentiles of the 48x48x3 levels, from their histogram (np.percentile sorts).
    counts = np.cumsum(cv2.calcHist([small.reshape(-1, 1)], [0], None, [256], [0, 256]).ravel())
    low, high = (int(np.searchsorted(counts, share * counts[-1])) for share in _STRETCH_SHARES)
    # One table does the stretch and O-Net's scaling: level -> (stretched - 127.5) / 128.
    stretched = np.clip((_LEVELS - low) * (255.0 / max(high - low, 1)), 0.0, 255.0)
    return cv2.LUT(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), (stretched - 127.5) / 128.0)


def _eye_line(landmarks: Landmarks) -> tuple[np.ndarray, np.ndarray, float]:
    """The eyes' middle, the unit vector from the right eye to the left (image left to right), and their distance."""
    right_eye, left_eye = np.asarray(landmarks[0], float), np.asarray(landmarks[1], float)
    along = left_eye - right_eye
    distance = float(np.hypot(*along))
    return (right_eye + left_eye) / 2, along / max(distance, 1e-6), distance


def frontal(detection: Detection) -> bool:
    """Whether ``detection``'s five landmarks show a face seen from the front (``False`` without landmarks).

    Its eyes are :data:`FRONTAL_EYES` of the box's longer side apart or more, and its nose lies within
    :data:`FRONTAL_NOSE` of the eye distance of the eyes' middle, measured along the eye line.
    """
    if detection.landmarks is None or len(detection.landmarks) < 3:
        return False
    middle, along, distance = _eye_line(detection.landmarks)
    side = max(detection.box[2], detection.box[3], 1)
    nose = float(np.dot(np.asarray(detection.landmarks[2], float) - middle, along))
    return distance >= FRONTAL_EYES * side and abs(nose) <= FRONTAL_NOSE * distance


def presence_crop(image_bgr: np.ndarray, detection: Detection) -> np.ndarray:
    """The face-mesh network's input for ``detection``: ``float32 (192, 192, 3)`` RGB in 0..1.

    The square around the box's centre, :data:`PRESENCE_SCALE` times its longer side, turned so the
    eyes are level (MediaPipe's own crop for this network); gray past the image. A face shrunk by
    more than half is cut with room to turn and shrunk by area first (no aliasing); a smaller one is
    turned and scaled straight from the image, which copies nothing.
    """
    x, y, w, h = (float(v) for v in detection.box)
    angle = 0.0
    if detection.landmarks is not None and len(detection.landmarks) >= 2:
        _middle, along, _distance = _eye_line(detection.landmarks)
        angle = math.degrees(math.atan2(along[1], along[0]))
    side = PRESENCE_SCALE * max(w, h, 1.0)
    centre = (x + w / 2, y + h / 2)
    if side > 2 * PRESENCE_SIZE:
        outer = math.ceil(PRESENCE_SIZE * math.sqrt(2))  # holds the turned square
        image_bgr = shrink(_square(image_bgr, *centre, side * outer / PRESENCE_SIZE), (outer, outer))
        centre, side = (outer / 2, outer / 2), float(PRESENCE_SIZE)
    turn = cv2.getRotationMatrix2D(centre, angle, PRESENCE_SIZE / side)
    turn[:, 2] += PRESENCE_SIZE / 2 - np.asarray(centre)
    crop = cv2.warpAffine(
        image_bgr, turn, (PRESENCE_SIZE, PRESENCE_SIZE), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(_PAD_LEVEL,) * 3,
    )  # fmt: skip
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _interpreter_class() -> Any:
    """LiteRT's interpreter, else TensorFlow's (same interface) where LiteRT does not install."""
    from core.litert import LiteRTUnavailable, interpreter_class  # noqa: PLC0415 - LiteRT only when used

    try:
        return interpreter_class()
    except LiteRTUnavailable as exc:
        try:
            import tensorflow as tf  # noqa: PLC0415 - only where LiteRT is missing, and the app has TF
        except ImportError:
            raise exc from None
        return tf.lite.Interpreter


class _Network:
    """A ``.tflite`` network of one input, loaded on first use, one interpreter per thread, allocated once."""

    def __init__(self, path: Path, size: int, what: str, outputs: int) -> None:
        self.path, self.size, self.what, self.outputs = path, size, what, outputs
        if not path.is_file():
            raise ModelLoadError(f"{what} model file not found: {path}")
        self._local = threading.local()

    def run(self, crop: np.ndarray, output: int) -> np.ndarray:
        """The network's output ``output`` (in the file's order) for one prepared crop ``(size, size, 3)``."""
        state = self._local
        if getattr(state, "interpreter", None) is None:
            try:
                interpreter = _interpreter_class()(model_path=str(self.path), num_threads=1)
                inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
                shape = tuple(inputs[0]["shape"][1:]) if len(inputs) == 1 else ()
                if shape != (self.size, self.size, 3) or len(outputs) != self.outputs:
                    raise ModelLoadError(f"{self.path} is not the {self.what} network")
                interpreter.resize_tensor_input(inputs[0]["index"], [1, self.size, self.size, 3])
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelLoadError(f"cannot load the {self.what} {self.path} (corrupt file?): {exc}") from exc
            state.interpreter, state.input = interpreter, inputs[0]["index"]
            state.outputs = [detail["index"] for detail in outputs]
        state.interpreter.set_tensor(state.input, crop[None])
        state.interpreter.invoke()
        return state.interpreter.get_tensor(state.outputs[output])


class FaceVerifier:
    """O-Net's face probability for boxes of an image, and the face mesh's look; safe to share between threads.

    Args:
        threshold: a box whose face probability is under this is not a face (0..1).
        below: only boxes the detector scored under this are looked at (0..1; 0 looks at none).
        presence_threshold: a frontal box O-Net keeps under :data:`PRESENCE_BELOW` whose face presence
            is under this is not a face (0..1; ``None``: no face-mesh look).
        model_path: another O-Net ``.tflite`` with the same input and output.
        presence_path: another face-mesh ``.tflite`` with the same input and outputs.

    Raises:
        ValueError: a threshold outside 0..1.
        core.errors.ModelLoadError: a model file is missing (an unusable one fails on first use).
    """

    def __init__(
        self,
        *,
        threshold: float = PHOTO_THRESHOLD,
        below: float = VERIFY_BELOW,
        presence_threshold: float | None = PRESENCE_THRESHOLD,
        model_path: str | Path | None = None,
        presence_path: str | Path | None = None,
    ) -> None:
        check_score(threshold, "threshold")
        check_score(below, "below")
        if presence_threshold is not None:
            check_score(presence_threshold, "presence_threshold")
        self.threshold = float(threshold)
        self.below = float(below)
        self.presence_threshold = None if presence_threshold is None else float(presence_threshold)
        self.model_path = Path(model_path) if model_path is not None else VERIFIER_FILE
        self._onet = _Network(self.model_path, VERIFIER_SIZE, "face verifier", outputs=1)
        self._mesh: _Network | None = None
        if self.presence_threshold is not None:
            path = Path(presence_path) if presence_path is not None else PRESENCE_FILE
            self._mesh = _Network(path, PRESENCE_SIZE, "face mesh", outputs=2)

    def __repr__(self) -> str:
        return f"FaceVerifier(threshold={self.threshold}, below={self.below}, presence_threshold={self.presence_threshold})"

    def network_probabilities(self, crops: np.ndarray) -> np.ndarray:
        """O-Net's face probability for prepared crops ``(N, 48, 48, 3)`` (:func:`verifier_crop`'s).

        One crop per call (about 0.12 ms; a batch is no faster per crop): the interpreter is allocated
        once, never resized, as the number of unsure boxes changes from photo to photo.
        """
        batch = np.ascontiguousarray(crops, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (VERIFIER_SIZE, VERIFIER_SIZE, 3):
            raise ValueError(f"crops must be (N, {VERIFIER_SIZE}, {VERIFIER_SIZE}, 3), got {batch.shape}")
        return np.array([float(self._onet.run(crop, 0)[0, 1]) for crop in batch])

    def face_probabilities(
        self, image_bgr: np.ndarray, boxes: list[tuple[int, int, int, int]], *, mirrored: bool = False
    ) -> np.ndarray:
        """O-Net's face probability for each ``x, y, w, h`` box of a BGR (or gray) image (``mirrored``: of its mirror)."""
        crops = self._crops(image_bgr, boxes)
        return self.network_probabilities(crops[:, :, ::-1] if mirrored else crops)

    def decision_probabilities(self, image_bgr: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
        """What each box is judged on: its crop's face probability, or, where that is under the threshold,
        the mean of its crop's and its mirrored crop's.

        O-Net reads a face from one side better than from the other: the turned face of the gray
        sample photo scores 0.02-0.43 on its crop and 0.39-0.56 mirrored, as its box moves by 4% of
        its side. A box is dropped only when the mean is under the threshold too, so a real face that
        one view misreads is kept; the mirror is looked at for about 1 real face in 100 (and half
        the false boxes), so a face costs one look.
        """
        crops = self._crops(image_bgr, boxes)
        probabilities = self.network_probabilities(crops)
        doubtful = np.flatnonzero(probabilities < self.threshold)
        if doubtful.size:
            probabilities[doubtful] = (probabilities[doubtful] + self.network_probabilities(crops[doubtful, :, ::-1])) / 2
        return probabilities

    def presence_probabilities(self, image_bgr: np.ndarray, faces: list[Detection]) -> np.ndarray:
        """The face mesh's face-presence probability for each detection (:func:`presence_crop`), 0..1.

        Raises:
            ValueError: this verifier has no face-mesh look (``presence_threshold=None``).
        """
        if self._mesh is None:
            raise ValueError("this verifier has no face-mesh look (presence_threshold=None)")
        if not faces:
            return np.zeros(0)
        check_image(image_bgr)
        bgr = to_bgr(image_bgr)
        logits = np.array([float(self._mesh.run(presence_crop(bgr, face), 1).ravel()[0]) for face in faces])
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))

    @staticmethod
    def _crops(image_bgr: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
        if not boxes:
            return np.zeros((0, VERIFIER_SIZE, VERIFIER_SIZE, 3), np.float32)
        check_image(image_bgr)
        bgr = to_bgr(image_bgr)
        return np.stack([verifier_crop(bgr, box) for box in boxes])

    def split(self, image_bgr: np.ndarray, faces: list[Detection]) -> tuple[list[Detection], list[Dropped]]:
        """``faces`` into those kept (sure, or a face to O-Net and, where asked, to the face mesh) and those dropped, with why."""
        unsure = [face for face in faces if face.score < self.below]
        if not unsure:
            return list(faces), []
        reasons: dict[int, str] = {}
        probabilities = self.decision_probabilities(image_bgr, [f.box for f in unsure])
        asked = []
        for face, probability in zip(unsure, probabilities):
            if probability < self.threshold:
                reasons[id(face)] = (
                    f"face verifier (MTCNN O-Net): face probability {probability:.2f} on the box's crop and its "
                    f"mirror, under {self.threshold:g}; looked at because the detector's score is under {self.below:g}"
                )
            elif self._mesh is not None and probability < PRESENCE_BELOW and frontal(face):
                asked.append((face, probability))
        if asked:
            presences = self.presence_probabilities(image_bgr, [face for face, _ in asked])
            for (face, probability), presence in zip(asked, presences):
                if presence < self.presence_threshold:
                    reasons[id(face)] = (
                        f"face verifier (MediaPipe face mesh): face presence {presence:.2f} on the box's crop with the "
                        f"eyes levelled, under {self.presence_threshold:g}; asked because O-Net's face probability, "
                        f"{probability:.2f}, is under {PRESENCE_BELOW:g} and the landmarks show a face from the front"
                    )
        kept = [face for face in faces if id(face) not in reasons]
        dropped = [Dropped(face, RULE, reasons[id(face)]) for face in faces if id(face) in reasons]
        return kept, dropped


class VerifiedDetector:
    """A face detector whose unsure boxes get :class:`FaceVerifier`'s second look.

    ``detect`` and ``examine`` answer like the wrapped detector's, less the boxes the verifier
    drops (``examine`` lists them with the detector's own dropped boxes). Its other attributes
    (``min_score``, ``scales``...) are the wrapped detector's; ``detector`` is that detector.
    """

    def __init__(self, detector: FaceDetector, verifier: FaceVerifier) -> None:
        self.detector = detector
        self.verifier = verifier
        self.name = detector.name

    def __repr__(self) -> str:
        return f"VerifiedDetector({self.detector!r}, {self.verifier!r})"

    def __getattr__(self, name: str) -> Any:
        # Only reached for what this wrapper lacks: the wrapped detector's settings.
        if name in ("detector", "verifier"):
            raise AttributeError(name)
        return getattr(self.detector, name)

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """The wrapped detector's faces, less those the verifier drops."""
        return self.examine(image_bgr).faces

    def examine(self, image_bgr: np.ndarray) -> DetectionReport:
        """The wrapped detector's faces and dropped boxes, with the verifier's drops among the latter."""
        report = examine(self.detector, image_bgr)
        kept, dropped = self.verifier.split(image_bgr, report.faces)
        if not dropped:
            return report
        every = [*report.dropped, *dropped]
        every.sort(key=lambda d: (d.detection.box[0], d.detection.box[1]))
        return DetectionReport(kept, every)


def verified(detector: FaceDetector, *, threshold: float = PHOTO_THRESHOLD) -> FaceDetector:
    """``detector`` with the second look at its boxes under :data:`VERIFY_BELOW`, at ``threshold``.

    Detectors in :data:`ALREADY_VERIFIED` (MTCNN, whose last stage is O-Net) come back as they are.

    Raises:
        core.errors.ModelLoadError: the verifier's model file is missing.
    """
    if detector.name in ALREADY_VERIFIED or isinstance(detector, VerifiedDetector):
        return detector
    return VerifiedDetector(detector, FaceVerifier(threshold=threshold))
