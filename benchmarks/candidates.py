"""Serving candidates that are not shipped: our models converted to TFLite, measured beside them.

They answer "what would serving through TFLite (XNNPACK) buy us?" with this run's numbers, speed
and PrivateTest accuracy both, so a change to ``core`` can be decided on evidence. Conversion runs
at benchmark time; nothing is written to ``models/``.
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.speed import Subject

# Kind -> how the converter is set: float32 as is, or dynamic-range int8 weights (Optimize.DEFAULT).
KINDS: dict[str, str] = {
    "float32": "TFLite float32",
    "int8": "TFLite dynamic-range int8",
}


class TFLiteClassifier:
    """``predict_batch`` like :class:`core.recognizer.EmotionRecognizer`, on a TFLite interpreter.

    One interpreter, one thread (``num_threads=1``), guarded by a lock: an interpreter is not safe
    to share between threads.
    """

    def __init__(self, keras_model: Any, *, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        import tensorflow as tf  # noqa: PLC0415

        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        if kind == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # The converter prints the exported graph's signature to stdout; keep the tables clean.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            self.model_bytes = converter.convert()
            self._interpreter = tf.lite.Interpreter(model_content=self.model_bytes, num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = 1
        self._lock = threading.Lock()
        self.kind = kind

    def predict_batch(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, 7)`` for raw faces ``(N, 48, 48, 1)`` 0..255."""
        batch = np.ascontiguousarray(faces, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[..., None]
        outputs = []
        with self._lock:
            for start in range(0, len(batch), 256):
                chunk = batch[start : start + 256]
                if len(chunk) != self._batch:
                    self._interpreter.resize_tensor_input(self._input, chunk.shape)
                    self._interpreter.allocate_tensors()
                    self._batch = len(chunk)
                self._interpreter.set_tensor(self._input, chunk)
                self._interpreter.invoke()
                outputs.append(self._interpreter.get_tensor(self._output).copy())
        probs = np.concatenate(outputs).astype(np.float64)
        return probs / probs.sum(axis=1, keepdims=True)


def tflite_subjects(subjects: list[Subject], *, kinds: tuple[str, ...] = ("int8",)) -> list[Subject]:
    """A TFLite candidate per model and kind, named ``"<model> tflite-<kind> (candidate)"``."""
    from core.model_store import load_model_dir  # noqa: PLC0415

    out = []
    for subject in subjects:
        model, _ = load_model_dir(Path(subject.path))
        for kind in kinds:
            classifier = TFLiteClassifier(model, kind=kind)
            name = f"{subject.name} tflite-{kind} (candidate)"
            out.append(Subject(name, classifier, subject.stand_in, subject.path, None))
    return out
