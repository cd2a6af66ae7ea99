"""The learning-rate schedule and optimiser of a run, and how a resumed run changes its schedule.

A run's schedule is a cosine decay with a linear warm-up (:func:`make_schedule`). A resumed run may
stretch it to a new number of epochs (:func:`replan_schedule`), start a new cycle (a warm restart,
:func:`restart_schedule`), or, resumed from a compact checkpoint with a fresh optimiser, read it
some steps ahead (:func:`offset_schedule_class`). Keras is imported only when a function runs.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from training.config import TrainConfig, TrainingError


def make_schedule(config: TrainConfig, steps_per_epoch: int) -> Any:
    """The cosine decay of ``config``'s learning rate over its epochs, after its warm-up epochs."""
    import keras  # noqa: PLC0415

    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total - 1, config.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * (0.1 if warmup else 1.0),
        decay_steps=max(1, total - warmup),
        alpha=0.01,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> Any:
    """``config``'s optimiser (AdamW, or SGD with Nesterov momentum) on :func:`make_schedule`."""
    import keras  # noqa: PLC0415

    schedule = make_schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)


def offset_schedule_class() -> Any:
    """The ``OffsetSchedule`` learning-rate schedule class (registered with Keras on first use).

    A run resumed from a compact checkpoint (:mod:`training.checkpoint`) starts a fresh optimiser,
    whose step counter, which Adam's bias correction also reads, begins at 0; its schedule is the
    run's own, read ``offset`` steps ahead, so the learning rate goes on exactly where it was.
    """
    return _offset_schedule_class()


@functools.cache
def _offset_schedule_class() -> Any:
    import keras  # noqa: PLC0415

    @keras.saving.register_keras_serializable(package="fer_training")
    class OffsetSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, schedule: Any, offset: int) -> None:
            if isinstance(schedule, dict):
                schedule = keras.saving.deserialize_keras_object(schedule)
            self.schedule = schedule
            self.offset = int(offset)

        def __call__(self, step: Any) -> Any:
            return self.schedule(keras.ops.cast(step, "float32") + float(self.offset))

        def get_config(self) -> dict[str, Any]:
            return {"schedule": keras.saving.serialize_keras_object(self.schedule), "offset": self.offset}

    return OffsetSchedule


def absolute_schedule(optimizer: Any, offset: int) -> Any:
    """The optimiser's learning-rate schedule over the run's own steps (its offset taken off).

    Raises:
        TrainingError: ``offset`` is not 0 but the schedule is not an offset one.
    """
    schedule = optimizer._learning_rate  # noqa: SLF001 - Keras keeps the schedule object only here
    if offset:
        if not isinstance(schedule, offset_schedule_class()):
            raise TrainingError("the checkpoint's state continues a compact copy, but its schedule is not offset")
        return schedule.schedule
    return schedule


def set_schedule(optimizer: Any, schedule: Any, offset: int) -> None:
    """Give ``optimizer`` ``schedule``, read ``offset`` steps ahead when ``offset`` is not 0."""
    optimizer.learning_rate = offset_schedule_class()(schedule, offset) if offset else schedule


def replan_schedule(optimizer: Any, config: TrainConfig, steps_per_epoch: int, offset: int = 0) -> None:
    """Stretch or shrink the rest of the cosine schedule to end at ``config.epochs``.

    The learning rate holds its current value for the steps already taken (so the schedule stays
    a plain, serialisable ``CosineDecay``), then decays from there to the same final value.
    ``offset``: steps the run took before its optimiser's counter began (see :func:`offset_schedule_class`).
    """
    import keras  # noqa: PLC0415

    done = int(np.asarray(optimizer.iterations)) + offset
    current = float(np.asarray(optimizer.learning_rate))
    total = max(done + 1, config.epochs * steps_per_epoch)
    final = config.learning_rate * 0.01
    set_schedule(optimizer, keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=current,
        decay_steps=total - done,
        alpha=min(1.0, final / current) if current > 0 else 0.0,
        warmup_target=current,
        warmup_steps=done,
    ), offset)  # fmt: skip


def restart_schedule(
    optimizer: Any, config: TrainConfig, steps_per_epoch: int, peak: float, offset: int = 0
) -> None:
    """Start a new cosine cycle at ``peak`` that anneals to the usual final rate at ``config.epochs``.

    A warm restart (Loshchilov & Hutter, SGDR): a finished, annealed run continues from its weights
    and optimiser moments with a fresh learning-rate cycle instead of a rate that is already spent.

    Raises:
        TrainingError: ``config.epochs`` leaves no step after those already run.
    """
    import keras  # noqa: PLC0415

    done = int(np.asarray(optimizer.iterations)) + offset
    total = config.epochs * steps_per_epoch
    if total <= done:
        raise TrainingError(f"a restart needs epochs beyond the {done // steps_per_epoch} already run")
    final = config.learning_rate * 0.01
    set_schedule(optimizer, keras.optimizers.schedules.CosineDecay(
        # Steps before ``done`` are history; from ``done`` on the rate is ``peak``, then decays.
        initial_learning_rate=peak,
        decay_steps=total - done,
        alpha=min(1.0, final / peak),
        warmup_target=peak,
        warmup_steps=done,
    ), offset)  # fmt: skip
