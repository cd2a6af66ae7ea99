"""The model a run trains: its augmentation followed by the served model, compiled with the run's optimiser.

The served model (:func:`training.architectures.build_model`) is what is saved and shipped; the
training model wraps it with the augmentation layers, which are active only while training.
Keras is imported only when a function runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ModelLoadError
from core.layers import register_layers
from core.model_store import load_model_dir
from training.architectures import build_model
from training.augment import build_augmenter, register_augment_layers
from training.config import TrainConfig, TrainingError
from training.precision import policy_name, resolve_precision
from training.schedules import make_optimizer, offset_schedule_class


def register_training_objects() -> None:
    """Make this project's own Keras classes known before a checkpoint is loaded: the offset schedule,
    the custom augmentation layers and the served models' layers (:mod:`core.layers`)."""
    offset_schedule_class()
    register_augment_layers()
    register_layers()


def build_training_model(
    config: TrainConfig, steps_per_epoch: int, *, precision: str | None = None
) -> tuple[Any, Any]:
    """The served model, and the model that is trained: augmentation followed by the served model.

    ``precision``: the resolved precision (a resumed run keeps its own); default, ``config``'s, resolved here.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(config.seed)
    # The policy is the model's own (its layers' dtype), never Keras' global one.
    model = build_model(
        config.arch, dtype=policy_name(precision or resolve_precision(config.precision)), equalize=config.equalize
    )
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    outputs = model(build_augmenter(config.augment, seed=config.seed)(inputs))
    trainer = keras.Model(inputs, outputs, name=f"train_{config.arch}")
    trainer.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model, trainer


def initialise_from(model: Any, config: TrainConfig) -> dict[str, Any]:
    """Copy the weights of the trained model directory ``config.init`` into ``model`` (a new run's served model).

    Returns:
        What it started from, for the metadata: ``{"name", "architecture", "model_sha256"}``.

    Raises:
        TrainingError: the directory is unusable, or its model is not ``config``'s architecture.
    """
    try:
        source, metadata = load_model_dir(config.init)
    except ModelLoadError as exc:
        raise TrainingError(f"cannot start from {config.init}: {exc}") from exc
    architecture = metadata.get("architecture")
    if architecture != config.arch:
        raise TrainingError(
            f"cannot start a {config.arch!r} run from {config.init}: its model is {architecture!r}"
            + (" (an ensemble cannot be fine-tuned as one network)" if architecture == "ensemble" else "")
        )
    weights = source.get_weights()
    if [w.shape for w in weights] != [tuple(v.shape) for v in model.weights]:
        raise TrainingError(f"cannot start from {config.init}: its weights do not fit this run's model")
    model.set_weights(weights)
    return {"name": Path(config.init).name, "architecture": architecture, "model_sha256": metadata.get("model_sha256")}


def served_model(trainer: Any) -> Any:
    """The inner served model of a training model (the layer that is a ``keras.Model``).

    Raises:
        TrainingError: ``trainer`` holds no such layer.
    """
    import keras  # noqa: PLC0415

    for layer in trainer.layers:
        if isinstance(layer, keras.Model) and layer.name != "augment":
            return layer
    raise TrainingError("checkpoint holds no served model")
