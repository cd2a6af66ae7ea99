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


def mix_batch(
    x: Any, y: Any, w: Any, *, alpha: float, rng: Any
) -> tuple[Any, Any, Any]:
    """Mixup (Zhang et al. 2018) of one batch: each face blended with another face of the batch.

    Each example ``i`` takes ``lam * x[i] + (1 - lam) * x[j]`` for a random partner ``j``, with
    ``lam ~ Beta(alpha, alpha)`` drawn per example and folded to ``lam >= 0.5`` (so the example
    stays mostly itself); targets and sample weights are blended with the same ``lam``.
    """
    import numpy as np  # noqa: PLC0415

    if not alpha > 0:
        raise ValueError(f"mixup alpha must be positive, not {alpha!r}")
    n = len(x)
    lam = rng.beta(alpha, alpha, n).astype("float32")
    lam = np.maximum(lam, 1.0 - lam)
    partner = rng.permutation(n)
    lx = lam.reshape((n,) + (1,) * (x.ndim - 1))
    mixed_x = lx * x + (1.0 - lx) * x[partner]
    mixed_y = lam[:, None] * y + (1.0 - lam[:, None]) * y[partner]
    mixed_w = lam * w + (1.0 - lam) * w[partner]
    return mixed_x.astype("float32"), mixed_y.astype("float32"), mixed_w.astype("float32")


def mixup_batches(x: Any, y: Any, w: Any, *, batch_size: int, alpha: float, seed: int) -> Any:
    """A ``keras.utils.PyDataset`` of shuffled, mixed-up ``(x, y, sample_weight)`` batches.

    The faces are shuffled anew each epoch; the batches are mixed with :func:`mix_batch` before
    the model's augmentation layers see them. ``seed`` fixes the order and the mixing (a resumed
    run passes a seed that includes its epoch).
    """
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    class MixupBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self._shuffle()

        def _shuffle(self) -> None:
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(x))

        def __len__(self) -> int:
            return int(np.ceil(len(x) / batch_size))

        def __getitem__(self, index: int) -> tuple[Any, Any, Any]:
            idx = np.sort(self.order[index * batch_size : (index + 1) * batch_size])
            rng = np.random.default_rng([seed, self.epoch, index])
            return mix_batch(x[idx], y[idx], w[idx], alpha=alpha, rng=rng)

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._shuffle()

    return MixupBatches()
