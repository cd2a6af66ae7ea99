"""Serving a model directory's ``.tflite`` through LiteRT (``ai-edge-litert``), without TensorFlow.

The ``.tflite`` file is a dynamic-range int8 conversion of the ``.keras`` file (see
:mod:`core.tflite_export`); the ``.keras`` file stays the source of truth. On one core LiteRT
classifies a face about 4.6x faster than TensorFlow, and a process that never imports TensorFlow
starts in well under a second at a tenth of the memory.

Nothing here imports ``ai_edge_litert`` until a model is loaded. A LiteRT interpreter is not safe
to share between threads, so :class:`LiteRTModel` builds one per thread on first use.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelLoadError
from core.labels import FACE_SIZE, NUM_CLASSES

# One thread per interpreter: the app serves many sessions at once, each on its own interpreter,
# and a batch of a few faces gains nothing from more.
NUM_THREADS = 1


class LiteRTUnavailable(ModelLoadError):
    """LiteRT cannot serve this model for an ordinary reason: no ``.tflite`` file, or no ``ai-edge-litert``."""


def interpreter_class() -> Any:
    """``ai_edge_litert.interpreter.Interpreter``.

    Raises:
        LiteRTUnavailable: the package is not installed or does not import on this platform.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415 - optional, heavy
    except ImportError as exc:  # also a broken native library
        raise LiteRTUnavailable(
            f"ai-edge-litert is not installed or does not import here ({exc}); "
            "install it with pip install 'ai-edge-litert>=2.0,<3' to serve the .tflite model"
        ) from exc
    return Interpreter


class LiteRTModel:
    """A ``.tflite`` emotion classifier: ``model(batch)`` maps ``float32 (N, 48, 48, 1)`` to ``(N, 7)``.

    ``input_shape`` and ``output_shape`` read like a Keras model's (``None`` for the batch axis).
    Safe to call from many threads: each thread gets its own interpreter, resized when the batch
    size it sees changes.
    """

    def __init__(self, model_content: bytes, *, num_threads: int = NUM_THREADS) -> None:
        """Build this thread's interpreter and read the model's input and output.

        Raises:
            LiteRTUnavailable: ``ai-edge-litert`` is missing.
            ModelLoadError: the bytes are not a usable TFLite model with one float32 input and output.
        """
        self._interpreter_class = interpreter_class()
        self._content = bytes(model_content)
        self._num_threads = int(num_threads)
        self._local = threading.local()
        state = self._state()
        inputs = state.interpreter.get_input_details()
        outputs = state.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"the TFLite model has {len(inputs)} inputs and {len(outputs)} outputs; expected 1 and 1")
        for role, detail in (("input", inputs[0]), ("output", outputs[0])):
            if np.dtype(detail["dtype"]) != np.float32:
                raise ModelLoadError(f"the TFLite model's {role} is {np.dtype(detail['dtype'])}, not float32")
        self.input_shape = _keras_like_shape(inputs[0])
        self.output_shape = _keras_like_shape(outputs[0])

    def _state(self) -> Any:
        state = self._local
        if getattr(state, "interpreter", None) is None:
            try:
                interpreter = self._interpreter_class(model_content=self._content, num_threads=self._num_threads)
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:  # what LiteRT raises for bytes that are not a model
                raise ModelLoadError(f"the TFLite model cannot be loaded (corrupt file?): {exc}") from exc
            state.input = interpreter.get_input_details()[0]["index"]
            state.output = interpreter.get_output_details()[0]["index"]
            state.batch = int(interpreter.get_input_details()[0]["shape"][0])
            state.interpreter = interpreter
        return state

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a ``float32`` batch ``(N, 48, 48, 1)``, ``N >= 1``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        state = self._state()
        interpreter = state.interpreter
        if batch.shape[0] != state.batch:
            interpreter.resize_tensor_input(state.input, batch.shape)
            interpreter.allocate_tensors()
            state.batch = batch.shape[0]
        interpreter.set_tensor(state.input, batch)
        interpreter.invoke()
        # get_tensor copies; the interpreter's buffer is reused by the next call.
        return interpreter.get_tensor(state.output)


def _keras_like_shape(detail: dict[str, Any]) -> tuple[int | None, ...]:
    signature = detail.get("shape_signature")
    shape = [int(d) for d in (signature if signature is not None and len(signature) else detail["shape"])]
    return (None, *(None if d < 0 else d for d in shape[1:])) if shape else ()


def load_litert_model(model_dir: str | Path, metadata: dict[str, Any]) -> LiteRTModel:
    """The ``.tflite`` file a model directory's metadata names, checked and ready to serve.

    Args:
        model_dir: the model directory.
        metadata: its metadata (already checked by :func:`core.model_store.read_model_info`).

    Raises:
        LiteRTUnavailable: the metadata names no ``.tflite`` file, or ``ai-edge-litert`` is missing.
        ModelLoadError: the file is missing, damaged, from another model, or not a FER classifier.
    """
    tflite_file = metadata.get("tflite_file")
    if not tflite_file:
        why = metadata.get("tflite_error")
        raise LiteRTUnavailable(
            "the model has no .tflite file"
            + (f" (its export failed: {why})" if why else "; add one with python -m training.export MODEL_DIR")
        )
    interpreter_class()  # fail early, before reading the file, when the package is missing
    if not isinstance(tflite_file, str) or "/" in tflite_file or "\\" in tflite_file:
        raise ModelLoadError(f"metadata names an invalid .tflite file: {tflite_file!r}")
    if metadata.get("tflite_source_sha256") not in (None, metadata.get("model_sha256")):
        raise ModelLoadError(f"{tflite_file} was exported from another .keras file than the one metadata names")
    path = Path(model_dir) / tflite_file
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {tflite_file}: {exc.strerror or exc}") from exc
    import hashlib  # noqa: PLC0415

    expected = metadata.get("tflite_sha256")
    if expected and hashlib.sha256(content).hexdigest() != expected:
        raise ModelLoadError(f"{tflite_file} does not match the checksum in metadata.json (replaced or damaged)")
    model = LiteRTModel(content)
    if model.input_shape[1:] != (FACE_SIZE, FACE_SIZE, 1) or model.output_shape[1:] != (NUM_CLASSES,):
        raise ModelLoadError(
            f"{tflite_file} has input {model.input_shape} and output {model.output_shape}; "
            f"expected (None, {FACE_SIZE}, {FACE_SIZE}, 1) and (None, {NUM_CLASSES})"
        )
    return model
