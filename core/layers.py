"""Keras layers of this project that a served model may contain (registered with Keras on first use).

``HistogramEqualization`` equalises each face's gray-level histogram, as OpenCV's ``equalizeHist``
does, as a model's own first step (``training.train --equalize``): it travels inside the ``.keras``
file and the ``.tflite`` export (built from TFLite's own operations: one-hot, sum, cumulative sum, gather),
so serving needs nothing else. ``ProbabilityTemperature`` rescales a model's probabilities by a
temperature fitted on held-out faces (temperature scaling, Guo et al., 2017, "On Calibration of
Modern Neural Networks"): an ensemble's averaged probabilities come out too modest, and this makes
its confidence mean what it says without changing which emotion wins. :func:`register_layers`
must run before such a model is loaded; :func:`core.model_store.load_model_dir` does it.
"""

from __future__ import annotations

import functools
from typing import Any

LEVELS = 256


def register_layers() -> dict[str, Any]:
    """Make this project's served-model layers known to Keras; returns them by class name."""
    return _layer_classes()


def probability_temperature(temperature: float, **kwargs: Any) -> Any:
    """A new ``ProbabilityTemperature`` layer dividing log-probabilities by ``temperature`` (> 0)."""
    return _layer_classes()["ProbabilityTemperature"](temperature, **kwargs)


def histogram_equalization(**kwargs: Any) -> Any:
    """A new ``HistogramEqualization`` layer (``kwargs`` as for any Keras layer, e.g. ``name``)."""
    return _layer_classes()["HistogramEqualization"](**kwargs)


@functools.cache
def _layer_classes() -> dict[str, Any]:
    import keras  # noqa: PLC0415
    from keras import ops  # noqa: PLC0415

    @keras.saving.register_keras_serializable(package="fer")
    class HistogramEqualization(keras.layers.Layer):
        """Per face (N, H, W, 1) of gray values 0..255: ``round(255 * (cdf(v) - cdf_min) / (n - cdf_min))``.

        ``cdf(v)`` counts the face's pixels at or below ``v`` (values rounded to whole levels),
        ``cdf_min`` those at its darkest level, ``n`` all of them; a face of one level stays as it
        is. The same as ``cv2.equalizeHist`` on the face's ``uint8`` pixels. No weights; float32.
        """

        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("dtype", "float32")
            super().__init__(**kwargs)

        def call(self, inputs: Any) -> Any:
            x = ops.cast(inputs, "float32")
            shape = ops.shape(x)
            levels = ops.cast(ops.clip(ops.round(x), 0, LEVELS - 1), "int32")
            flat = ops.reshape(levels, (shape[0], -1))  # (N, P)
            hist = ops.sum(ops.one_hot(flat, LEVELS, dtype="float32"), axis=1)  # (N, 256)
            cdf = ops.cumsum(hist, axis=1)
            at_pixel = ops.take_along_axis(cdf, flat, axis=1)  # cdf(v) of each pixel, (N, P)
            cdf_min = ops.min(at_pixel, axis=1, keepdims=True)
            total = ops.cast(ops.shape(flat)[1], "float32")
            spread = total - cdf_min
            equalised = ops.round((at_pixel - cdf_min) * (LEVELS - 1) / ops.maximum(spread, 1.0))
            flat_x = ops.reshape(ops.cast(levels, "float32"), (shape[0], -1))
            out = ops.where(spread > 0, equalised, flat_x)
            return ops.reshape(out, shape)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    @keras.saving.register_keras_serializable(package="fer")
    class ProbabilityTemperature(keras.layers.Layer):
        """Probabilities (N, C) to ``softmax(log(p) / T)``: the same order, flatter above T = 1, sharper below.

        ``p`` is floored at 1e-12 so a zero stays finite. No weights; float32.
        """

        def __init__(self, temperature: float, **kwargs: Any) -> None:
            kwargs.setdefault("dtype", "float32")
            super().__init__(**kwargs)
            if not float(temperature) > 0:
                raise ValueError(f"temperature must be positive, not {temperature!r}")
            self.temperature = float(temperature)

        def call(self, inputs: Any) -> Any:
            logs = ops.log(ops.maximum(ops.cast(inputs, "float32"), 1e-12))
            return ops.softmax(logs / self.temperature, axis=-1)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "temperature": self.temperature}

    return {"HistogramEqualization": HistogramEqualization, "ProbabilityTemperature": ProbabilityTemperature}
