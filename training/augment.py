"""Training-time augmentation as Keras layers (backend-agnostic; inactive at inference)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AugmentConfig:
    """What the augmentation does to each training face. Zero turns a transform off."""

    rotation_degrees: float = 12.0
    zoom: float = 0.12
    shift: float = 0.1
    horizontal_flip: bool = True
    # Probability of erasing one random rectangle (random erasing / cutout).
    erasing: float = 0.3
    brightness: float = 0.1
    contrast: float = 0.15


def build_augmenter(config: AugmentConfig, *, seed: int = 0) -> Any:
    """A ``keras.Sequential`` applying ``config`` to raw 0..255 grayscale faces (N, 48, 48, 1)."""
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    steps: list[Any] = []
    if config.horizontal_flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if config.rotation_degrees:
        steps.append(layers.RandomRotation(config.rotation_degrees / 360.0, fill_mode="reflect", seed=seed + 1))
    if config.zoom:
        steps.append(layers.RandomZoom(config.zoom, config.zoom, fill_mode="reflect", seed=seed + 2))
    if config.shift:
        steps.append(layers.RandomTranslation(config.shift, config.shift, fill_mode="reflect", seed=seed + 3))
    if config.brightness:
        steps.append(layers.RandomBrightness(config.brightness, value_range=(0, 255), seed=seed + 4))
    if config.contrast:
        steps.append(layers.RandomContrast(config.contrast, value_range=(0, 255), seed=seed + 5))
    if config.erasing:
        steps.append(
            layers.RandomErasing(factor=config.erasing, scale=(0.02, 0.2), value_range=(0, 255), seed=seed + 6)
        )
    if not steps:
        steps.append(layers.Identity())
    return keras.Sequential(steps, name="augment")


def augment_preview(faces: Any, config: AugmentConfig, *, seed: int = 0, copies: int = 8) -> Any:
    """Apply the training augmentation to faces ``copies`` times, for showing what training sees.

    Args:
        faces: uint8 or float array (N, 48, 48) or (N, 48, 48, 1).

    Returns:
        uint8 array (copies, N, 48, 48).
    """
    import numpy as np  # noqa: PLC0415

    arr = np.asarray(faces, dtype="float32")
    if arr.ndim == 3:
        arr = arr[..., None]
    augmenter = build_augmenter(config, seed=seed)
    out = [np.asarray(augmenter(arr, training=True)) for _ in range(copies)]
    return np.clip(np.stack(out)[..., 0], 0, 255).astype(np.uint8)
