"""Convert a Keras emotion model to a dynamic-range int8 ``.tflite`` for LiteRT serving.

Dynamic-range quantisation stores the weights as int8 and keeps float32 inputs and outputs; on
FER2013 PrivateTest it scored 0.5651 against the Keras model's 0.5659, at 4.6x the speed per face.
TensorFlow is imported here, so only training and the export command import this module.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np

from core.errors import FERError
from core.labels import FACE_SIZE, NUM_CLASSES

# The largest difference in any probability between Keras and the exported model on the probe
# faces. int8 weights move probabilities by about 1e-2; more means a broken conversion.
VERIFY_TOLERANCE = 0.1


class TFLiteExportError(FERError):
    """The Keras model could not be converted to a working ``.tflite`` model."""


def export_tflite(keras_model: Any, *, verify: bool = True) -> bytes:
    """The model as a ``.tflite`` flatbuffer with int8 weights and a dynamic batch axis.

    The input is ``float32 (N, 48, 48, 1)`` raw pixels 0..255 (the model's own rescaling is inside
    it), the output ``(N, 7)`` probabilities, as for the Keras model.

    Args:
        keras_model: a ``keras.Model`` on the TensorFlow backend.
        verify: run the converted model on probe faces and compare it with Keras.

    Raises:
        TFLiteExportError: the conversion failed or gives different answers (the message says how).
    """
    try:
        import tensorflow as tf  # noqa: PLC0415 - heavy; only when exporting

        # from_keras_model exports a SavedModel with the model's own (None, 48, 48, 1) signature.
        # Converting a tf.function over the model via from_concrete_functions instead gave a
        # model that outputs NaN with TF 2.21 / Keras 3.15, which the check below catches.
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # The converter prints the exported signature to stdout; callers print their own progress.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            content = bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - TensorFlow raises many types; all mean "cannot convert"
        raise TFLiteExportError(f"TFLite conversion failed: {type(exc).__name__}: {exc}") from exc
    if verify:
        _verify(keras_model, content)
    return content


def _verify(keras_model: Any, content: bytes) -> None:
    rng = np.random.default_rng(0)
    probe = np.concatenate(
        [
            np.full((1, FACE_SIZE, FACE_SIZE, 1), 128.0, np.float32),
            rng.integers(0, 256, (3, FACE_SIZE, FACE_SIZE, 1)).astype(np.float32),
        ]
    )
    try:
        expected = np.asarray(keras_model(probe, training=False), dtype=np.float64)
        got = np.asarray(_run_tflite(content, probe), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001
        raise TFLiteExportError(f"the converted model does not run: {type(exc).__name__}: {exc}") from exc
    if got.shape != (len(probe), NUM_CLASSES):
        raise TFLiteExportError(f"the converted model returned shape {got.shape}; expected {(len(probe), NUM_CLASSES)}")
    worst = float(np.max(np.abs(got - expected)))
    if not np.isfinite(worst) or worst > VERIFY_TOLERANCE:
        raise TFLiteExportError(
            f"the converted model disagrees with Keras by {worst:.3f} in a probability (limit {VERIFY_TOLERANCE})"
        )


def _run_tflite(content: bytes, batch: np.ndarray) -> np.ndarray:
    """Run the ``.tflite`` with LiteRT when installed, else with TensorFlow's own (deprecated) interpreter."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
    except ImportError:
        import tensorflow as tf  # noqa: PLC0415

        Interpreter = tf.lite.Interpreter  # noqa: N806
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter warns that it moved to LiteRT
        interpreter = Interpreter(model_content=content, num_threads=1)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, batch.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, batch)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
