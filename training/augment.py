"""Training-time augmentation: Keras layers inside the training model (backend-agnostic; inactive at
inference), and numpy steps on the batches before it (mixup, the photometric gap of real photos)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np


SERVE_JITTER_PATHS: tuple[str, ...] = ("", "photo", "webcam")


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
    # Draw each face's offset, scale and rotation from a serving path's measured crop errors
    # (training.jitter: "photo" or "webcam"; "" is off) instead of rotation_degrees, zoom and shift.
    serve_jitter: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.serve_jitter, bool):  # the first form of the option: on meant the photo path
            object.__setattr__(self, "serve_jitter", "photo" if self.serve_jitter else "")
        if self.serve_jitter not in SERVE_JITTER_PATHS:
            raise ValueError(f"serve_jitter must be one of {SERVE_JITTER_PATHS} ('' is off), not {self.serve_jitter!r}")


def build_augmenter(config: AugmentConfig, *, seed: int = 0) -> Any:
    """A ``keras.Sequential`` applying ``config`` to raw 0..255 grayscale faces (N, 48, 48, 1)."""
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    steps: list[Any] = []
    if config.horizontal_flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if config.serve_jitter:
        from training.jitter import load_jitter  # noqa: PLC0415

        jitter = load_jitter(config.serve_jitter)
        steps.append(serve_jitter_layer()(
            mean=jitter.mean, cholesky=jitter.cholesky().tolist(), low=jitter.low, high=jitter.high,
            seed=seed + 1, name="serve_jitter",
        ))  # fmt: skip
    else:
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


def serve_jitter_layer() -> Any:
    """The ``ServeJitter`` Keras layer class (registered with Keras on first use).

    ``ServeJitter(mean, cholesky, low, high, seed)`` resamples each face (N, H, W, C) through the crop
    a served face would have had: ``(dx, dy, log_scale, degrees)`` drawn from the clipped Gaussian
    ``mean + cholesky @ z`` (:class:`training.jitter.JitterModel`); the crop's centre moves by
    ``(dx, dy)`` sides, its side scales by ``exp(log_scale)`` and it turns by ``degrees``, the
    image reflected beyond its edges. Inactive at inference.
    """
    return _layer_classes()["ServeJitter"]


def register_augment_layers() -> None:
    """Make the custom augmentation layers known to Keras (before loading a training checkpoint)."""
    _layer_classes()


@functools.cache
def _layer_classes() -> dict[str, Any]:
    import keras  # noqa: PLC0415
    from keras import ops  # noqa: PLC0415

    @keras.saving.register_keras_serializable(package="fer_training")
    class ServeJitter(keras.layers.Layer):
        def __init__(
            self, mean: Any, cholesky: Any, low: Any, high: Any, seed: int | None = None, **kwargs: Any
        ) -> None:
            super().__init__(**kwargs)
            self.mean, self.low, self.high = [list(map(float, v)) for v in (mean, low, high)]
            self.chol = [list(map(float, row)) for row in cholesky]
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, inputs: Any, training: bool | None = None) -> Any:
            if not training:
                return inputs
            n = ops.shape(inputs)[0]
            z = keras.random.normal((n, len(self.mean)), seed=self.seed_generator)
            draws = ops.convert_to_tensor(self.mean) + ops.matmul(z, ops.transpose(ops.convert_to_tensor(self.chol)))
            draws = ops.clip(draws, ops.convert_to_tensor(self.low), ops.convert_to_tensor(self.high))
            height, width = inputs.shape[1], inputs.shape[2]
            scale = ops.exp(draws[:, 2])
            angle = draws[:, 3] * (math.pi / 180.0)
            cos, sin = scale * ops.cos(angle), scale * ops.sin(angle)
            cx0, cy0 = (width - 1) / 2.0, (height - 1) / 2.0
            cx, cy = cx0 + draws[:, 0] * width, cy0 + draws[:, 1] * height
            # Output pixel (x, y) samples the input at centre + scale * R(angle) @ ((x, y) - middle).
            zeros = ops.zeros_like(cos)
            transform = ops.stack(
                [cos, -sin, cx - cos * cx0 + sin * cy0, sin, cos, cy - sin * cx0 - cos * cy0, zeros, zeros], axis=1
            )
            return ops.image.affine_transform(inputs, transform, interpolation="bilinear", fill_mode="reflect")

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {
                **super().get_config(), "mean": self.mean, "cholesky": self.chol, "low": self.low,
                "high": self.high, "seed": self.seed,
            }  # fmt: skip

    return {"ServeJitter": ServeJitter}


def augment_preview(faces: Any, config: AugmentConfig, *, seed: int = 0, copies: int = 8) -> Any:
    """Apply the training augmentation to faces ``copies`` times, for showing what training sees.

    Args:
        faces: uint8 or float array (N, 48, 48) or (N, 48, 48, 1).

    Returns:
        uint8 array (copies, N, 48, 48).
    """
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


# The photometric gap of real photos, in the order a photo acquires it: light, exposure, then
# resolution, focus and encoding. Each is applied to a face with the --photometric probability.
PHOTOMETRIC: tuple[str, ...] = ("uneven_light", "gamma", "low_resolution", "blur", "jpeg")
LIGHT_STRENGTH = (0.15, 0.6)  # the gradient's brightness change from the centre to an edge
GAMMA_LOG = 0.5  # gamma = exp(U(-0.5, 0.5)): 0.61 (brighter mid-tones) to 1.65 (darker)
LOW_RES_SIDE = (12, 32)  # pixels the 48-pixel face is shrunk to before it is enlarged again
BLUR_SIGMA = (0.5, 1.5)  # Gaussian blur, in pixels of the 48-pixel face
JPEG_QUALITY = (15, 60)


def uneven_light(face: np.ndarray, *, strength: float, degrees: float) -> np.ndarray:
    """``face`` (H, W) 0..255 lit by a linear gradient: ``1 + strength`` times as bright at the edge
    the gradient points to (``degrees`` clockwise from the right), ``1 - strength`` at the other."""
    h, w = face.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs - (w - 1) / 2) / ((w - 1) / 2)
    v = (ys - (h - 1) / 2) / ((h - 1) / 2)
    angle = math.radians(degrees)
    field = 1.0 + strength * (math.cos(angle) * u + math.sin(angle) * v)
    return np.clip(face * field, 0, 255).astype(np.float32)


def gamma(face: np.ndarray, *, value: float) -> np.ndarray:
    """``255 * (face / 255) ** value``."""
    return (255.0 * np.power(np.clip(face, 0, 255) / 255.0, value)).astype(np.float32)


def low_resolution(face: np.ndarray, *, side: int) -> np.ndarray:
    """``face`` shrunk to ``side`` pixels (area average) and enlarged back (bilinear)."""
    import cv2  # noqa: PLC0415

    h, w = face.shape
    small = cv2.resize(face.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def blur(face: np.ndarray, *, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels (edges reflected)."""
    import cv2  # noqa: PLC0415

    return cv2.GaussianBlur(face.astype(np.float32), (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)


def jpeg(face: np.ndarray, *, quality: int) -> np.ndarray:
    """``face`` encoded as a JPEG of ``quality`` (1-100) and decoded again."""
    import cv2  # noqa: PLC0415

    pixels = np.clip(np.rint(face), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32)


def photometric(faces: np.ndarray, *, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Each face (N, H, W[, 1]) 0..255 given each of :data:`PHOTOMETRIC` with ``probability``,
    its strength drawn from ``rng``; a new float32 array (the input is not changed)."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"photometric probability must be within 0..1, not {probability!r}")
    out = np.array(faces, dtype=np.float32, copy=True)
    flat = out[..., 0] if out.ndim == 4 else out
    for i in range(len(flat)):
        use = rng.random(len(PHOTOMETRIC)) < probability
        face = flat[i]
        if use[0]:
            face = uneven_light(face, strength=rng.uniform(*LIGHT_STRENGTH), degrees=rng.uniform(0, 360))
        if use[1]:
            face = gamma(face, value=math.exp(rng.uniform(-GAMMA_LOG, GAMMA_LOG)))
        if use[2]:
            face = low_resolution(face, side=int(rng.integers(LOW_RES_SIDE[0], LOW_RES_SIDE[1] + 1)))
        if use[3]:
            face = blur(face, sigma=rng.uniform(*BLUR_SIGMA))
        if use[4]:
            face = jpeg(face, quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
        flat[i] = face
    return out


def training_batches(
    x: Any, y: Any, w: Any, *, batch_size: int, seed: int, mixup: float = 0.0, photometric_p: float = 0.0
) -> Any:
    """A ``keras.utils.PyDataset`` of shuffled ``(x, y, sample_weight)`` batches, changed in numpy
    before the model's augmentation layers see them.

    The faces are shuffled anew each epoch; each batch gets :func:`photometric` (with probability
    ``photometric_p``), then :func:`mix_batch` (when ``mixup`` is a Beta alpha above 0). ``seed``
    fixes the order and every draw (a resumed run passes a seed that includes its epoch).
    """
    import keras  # noqa: PLC0415

    if not (mixup > 0 or photometric_p > 0):
        raise ValueError("training_batches needs mixup or photometric_p above 0")

    class TrainingBatches(keras.utils.PyDataset):
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
            batch = x[idx], y[idx], w[idx]
            if photometric_p > 0:
                # Its own stream, so adding photometric changes nothing else a seed fixes.
                own = np.random.default_rng([seed, self.epoch, index, 1])
                faces = photometric(batch[0], probability=photometric_p, rng=own)
                batch = faces, batch[1], batch[2]
            if mixup > 0:
                return mix_batch(*batch, alpha=mixup, rng=rng)
            return batch

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._shuffle()

    return TrainingBatches()
