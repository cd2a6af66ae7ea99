"""CNN architectures for 48x48 grayscale faces, registered by name.

Every builder returns a ``keras.Model`` that takes raw pixel values 0..255 of shape (48, 48, 1)
and outputs 7 softmax probabilities. ``dtype`` (a Keras policy name such as ``mixed_bfloat16``)
applies to every layer but the float32 softmax; ``None`` is float32. Normalisation is the model's first layer, so it is saved with
the model and serving cannot drift from training. Only built-in Keras layers are used, so a saved
model loads in Keras safe mode on any backend; ``equalize=True`` puts :mod:`core.layers`'
histogram equalisation first (loaded by :func:`core.model_store.load_model_dir`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.labels import FACE_SIZE, NUM_CLASSES

_REGISTRY: dict[str, Callable[..., Any]] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register an architecture builder under ``name``."""

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} is already registered")
        _REGISTRY[name] = builder
        _DESCRIPTIONS[name] = description
        return builder

    return wrap


def list_architectures() -> dict[str, str]:
    """Registered architecture names with a one-line description each."""
    return dict(_DESCRIPTIONS)


def build_model(name: str, *, input_size: int = FACE_SIZE, num_classes: int = NUM_CLASSES, **options: Any) -> Any:
    """Build a registered architecture.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown architecture {name!r}; known architectures: {known}")
    return _REGISTRY[name](input_size=input_size, num_classes=num_classes, **options)


def _conv_bn_relu(x: Any, filters: int, *, name: str, dtype: str | None) -> Any:
    from keras import layers  # noqa: PLC0415

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv", dtype=dtype)(x)
    x = layers.BatchNormalization(name=f"{name}_bn", dtype=dtype)(x)
    return layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def _vgg(
    *,
    input_size: int,
    num_classes: int,
    widths: Sequence[int],
    convs_per_stage: int,
    head_units: int,
    dropout: float,
    name: str,
    dtype: str | None = None,
    equalize: bool = False,
) -> Any:
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    inputs = keras.Input((input_size, input_size, 1), name="pixels")
    x = inputs
    if equalize:  # histogram equalisation of each face, as the model's own first step
        from core.layers import histogram_equalization  # noqa: PLC0415

        x = histogram_equalization(name="equalize")(x)
    # Raw 0..255 in; the model owns its normalisation.
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalise", dtype=dtype)(x)
    for stage, width in enumerate(widths):
        for i in range(convs_per_stage):
            x = _conv_bn_relu(x, width, name=f"s{stage}_{i}", dtype=dtype)
        x = layers.MaxPooling2D(2, name=f"s{stage}_pool", dtype=dtype)(x)
        if dropout and stage > 0:
            x = layers.SpatialDropout2D(dropout / 4, name=f"s{stage}_drop", dtype=dtype)(x)
    x = layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(x)
    if head_units:
        x = layers.Dense(head_units, use_bias=False, name="head_dense", dtype=dtype)(x)
        x = layers.BatchNormalization(name="head_bn", dtype=dtype)(x)
        x = layers.ReLU(name="head_relu", dtype=dtype)(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_drop", dtype=dtype)(x)
    # The softmax stays float32 whatever the policy: probabilities and the loss need its range.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name)


@register("fast", "Small VGG-style net (32-64-128-256) for live video: a few ms per face on one CPU core")
def fast(
    *, input_size: int, num_classes: int, dropout: float = 0.4, dtype: str | None = None, equalize: bool = False
) -> Any:
    return _vgg(
        input_size=input_size, num_classes=num_classes, widths=(32, 64, 128, 256),
        convs_per_stage=2, head_units=256, dropout=dropout, name="fast", dtype=dtype, equalize=equalize,
    )


@register("wide", "fast at 1.5x the width (48-96-192-384): about 2.2x its compute, for the default model")
def wide(
    *, input_size: int, num_classes: int, dropout: float = 0.4, dtype: str | None = None, equalize: bool = False
) -> Any:
    return _vgg(
        input_size=input_size, num_classes=num_classes, widths=(48, 96, 192, 384),
        convs_per_stage=2, head_units=384, dropout=dropout, name="wide", dtype=dtype, equalize=equalize,
    )


@register("vgg", "VGG-style net (64-128-256-512, two convs a stage): the accurate default")
def vgg(
    *, input_size: int, num_classes: int, dropout: float = 0.5, dtype: str | None = None, equalize: bool = False
) -> Any:
    return _vgg(
        input_size=input_size, num_classes=num_classes, widths=(64, 128, 256, 512),
        convs_per_stage=2, head_units=512, dropout=dropout, name="vgg", dtype=dtype, equalize=equalize,
    )


@register("tiny", "Very small net for tests and smoke runs (not for shipping)")
def tiny(
    *, input_size: int, num_classes: int, dropout: float = 0.0, dtype: str | None = None, equalize: bool = False
) -> Any:
    return _vgg(
        input_size=input_size, num_classes=num_classes, widths=(8, 16),
        convs_per_stage=1, head_units=0, dropout=dropout, name="tiny", dtype=dtype, equalize=equalize,
    )
