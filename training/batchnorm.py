"""Batch-normalisation statistics measured again on the images a model will really see.

A model trained with augmentation keeps, in its batch-normalisation layers, moving statistics of
augmented faces (rotated, shifted, partly erased, with dropout on); it serves clean ones. Measuring
the statistics again on clean Training faces removes that mismatch (the same idea as Touvron et al.,
2019, "Fixing the train-test resolution discrepancy"), and it is needed after averaging weights,
whose statistics are not the average of the statistics. Whether it helps is decided on PublicTest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH_SIZE = 256


def recalibrate_batchnorm(model: Any, images: np.ndarray, *, batch_size: int = BATCH_SIZE) -> int:
    """Measure every batch-normalisation layer's statistics again on ``images`` (raw pixels 0..255).

    The moving mean becomes the mean over all faces, and the moving variance the mean of the batch
    variances (not exponential averages), computed with dropout off so the statistics are those of
    the features the model sees when it serves. Returns the number of layers recalibrated.
    """
    from keras import layers  # noqa: PLC0415

    norms = [layer for layer in _all_layers(model) if isinstance(layer, layers.BatchNormalization)]
    if not norms:
        return 0
    dropouts = [layer for layer in _all_layers(model) if isinstance(layer, layers.Dropout)]  # spatial ones too
    saved = [(layer, layer.rate) for layer in dropouts] + [(layer, layer.momentum) for layer in norms]
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if not len(x):
        raise ValueError("batch-norm statistics need at least one image")
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for layer in norms:
            layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, np.float32))
            layer.moving_variance.assign(np.zeros(layer.moving_variance.shape, np.float32))
        seen = 0
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            # moving = moving * momentum + batch * (1 - momentum): this momentum keeps the mean over
            # all faces so far, each batch weighted by its size.
            for layer in norms:
                layer.momentum = seen / (seen + len(batch))
            model(batch, training=True)
            seen += len(batch)
    finally:
        for layer, rate in saved[: len(dropouts)]:
            layer.rate = rate
        for layer, momentum in saved[len(dropouts) :]:
            layer.momentum = momentum
    return len(norms)


def _all_layers(model: Any) -> list[Any]:
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found


def accuracy(model: Any, images: np.ndarray, labels: np.ndarray, *, batch_size: int = BATCH_SIZE) -> float:
    """Top-1 accuracy of a Keras model on raw 48x48 faces (pixels 0..255), in inference mode."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    probs = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def recalibrate_if_better(
    model: Any, train_images: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray
) -> tuple[Any, dict[str, Any]]:
    """Recalibrate a copy of ``model`` on ``train_images``; keep it only if it scores higher on validation.

    Returns:
        The model to keep (``model`` itself, or the recalibrated copy) and what was measured:
        ``{"recalibrated": bool, "val_accuracy_as_trained": ..., "val_accuracy_recalibrated": ...}``.
    """
    import keras  # noqa: PLC0415

    before = accuracy(model, val_images, val_labels)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if not recalibrate_batchnorm(copy, train_images):
        return model, {"recalibrated": False, "val_accuracy_as_trained": before, "val_accuracy_recalibrated": None}
    after = accuracy(copy, val_images, val_labels)
    report = {"recalibrated": after > before, "val_accuracy_as_trained": before, "val_accuracy_recalibrated": after}
    return (copy if after > before else model), report
