"""Train an emotion model on FER2013: the routine shared by the command line and the training page.

    python -m training.train --data data/fer2013.csv.gz --arch fast --epochs 30 --out models/fast

Training fits on ``Training``, validates on ``PublicTest`` every epoch (early stopping and the choice
of the best epoch), and never looks at ``PrivateTest``. A checkpoint is written after every epoch
(atomically), so ``--resume`` continues an interrupted run where it stopped. After the last epoch
the best epoch's batch-norm statistics are measured again on clean faces (:mod:`training.batchnorm`),
kept when PublicTest improves.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DatasetError, FERError
from core.labels import FER2013_TERMS, NUM_CLASSES
from core.layers import register_layers
from core.model_store import save_model_dir, write_json_atomic
from training.progress import printer as progress_printer
from training.architectures import build_model, list_architectures
from training.augment import AugmentConfig, build_augmenter, register_augment_layers, training_batches
from training.batchnorm import recalibrate_if_better
from training.data import FERData, blend_ferplus, load_fer2013, with_ferplus
from training.distill import blend_targets, cached_teacher_probabilities, soften
from training.precision import PRECISIONS, policy_name, resolve_precision

CHECKPOINT_DIR = "checkpoint"
CLASS_WEIGHTINGS = ("none", "sqrt", "balanced")
OPTIMIZERS = ("adamw", "sgd")


class TrainingError(FERError):
    """Training cannot start or continue (bad configuration, unusable checkpoint, ...)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run learns. Saved in the checkpoint and the model metadata."""

    arch: str = "fast"
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adamw"
    learning_rate: float = 2e-3
    # Decoupled (AdamW-style) weight decay, applied as weight_decay * learning_rate per step.
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    class_weighting: str = "sqrt"
    patience: int = 10
    seed: int = 2013
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    ferplus: bool = False
    # Cap on training examples, for smoke runs; 0 means all.
    limit: int = 0
    # Compute precision (training.precision): auto is bfloat16 on a GPU or a CPU with native bf16
    # (1.2-1.5x the images per second of float32 for `fast` on this 2-core CPU, same accuracy).
    precision: str = "auto"
    # Mixup's Beta(alpha, alpha) (training.augment.mix_batch); 0 turns it off.
    mixup: float = 0.0
    # Distillation (training.distill): a teacher model directory and the share of its probabilities
    # in the targets; the temperature softens them.
    teacher: str = ""
    distill_weight: float = 0.0
    distill_temperature: float = 1.0
    # The photometric gap of real photos (training.augment.photometric): each of uneven light, gamma,
    # low resolution, blur and JPEG applied to a face with this probability; 0 turns it off.
    photometric: float = 0.0
    # Histogram equalisation of each face as the served model's first layer (core.layers).
    equalize: bool = False
    # Training targets blended with FER+ votes (training.data.blend_ferplus) at this weight; 0 is off.
    ferplus_blend: float = 0.0
    # Start from this trained model directory's weights (a fine-tune), not from random ones; "" is off.
    init: str = ""

    def __post_init__(self) -> None:
        if self.arch not in list_architectures():
            raise ValueError(f"unknown architecture {self.arch!r}; known architectures: {', '.join(list_architectures())}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise ValueError(f"class_weighting must be one of {CLASS_WEIGHTINGS}, not {self.class_weighting!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        if not self.mixup >= 0:
            raise ValueError(f"mixup must be 0 (off) or a positive Beta alpha such as 0.2, not {self.mixup!r}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be within 0..1, not {self.distill_weight!r}")
        if self.distill_weight > 0 and not self.teacher:
            raise ValueError("distill_weight needs a teacher model directory")
        if not self.distill_temperature > 0:
            raise ValueError(f"distill_temperature must be positive, not {self.distill_temperature!r}")
        if not 0.0 <= self.photometric <= 1.0:
            raise ValueError(f"photometric must be a probability within 0..1 (0: off), not {self.photometric!r}")
        if not 0.0 <= self.ferplus_blend <= 1.0:
            raise ValueError(f"ferplus_blend must be within 0..1 (0: off), not {self.ferplus_blend!r}")
        if self.ferplus and self.ferplus_blend > 0:
            raise ValueError("ferplus replaces the labels and ferplus_blend blends them: choose one")

    def to_dict(self) -> dict[str, Any]:
        """What is saved in checkpoints and metadata (a teacher outside the working folder by name only)."""
        data = asdict(self)
        for key in ("teacher", "init"):
            if data[key]:
                data[key] = portable_path(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        # Saved before precision was recorded: such a run computed in float32, whatever today's default.
        values.setdefault("precision", "float32")
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig(**values["augment"])
        return cls(**values)


@dataclass(frozen=True)
class ProgressEvent:
    """What a running training reports: ``kind`` is ``"preparing"`` (before the first epoch, e.g. a
    teacher classifying the faces; ``message`` says what), ``"batch"``, ``"epoch"``, ``"finishing"``
    (the chosen model is being finished after the last epoch; ``message`` says how) or ``"end"``."""

    kind: str
    epoch: int  # 0-based epoch being run (or just finished)
    epochs: int
    batch: int
    batches: int
    logs: dict[str, float]
    elapsed_s: float
    eta_s: float | None
    history: dict[str, list[float]] = field(default_factory=dict)
    message: str = ""
    rate: float | None = None  # batches a second so far in this run

    @property
    def fraction(self) -> float:
        """Overall progress 0..1."""
        done = self.epoch + (self.batch / self.batches if self.batches else 0.0)
        if self.kind in ("epoch", "finishing", "end"):
            done = self.epoch + 1
        return min(1.0, done / max(1, self.epochs))


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: ``status`` is ``completed``, ``early_stopped`` or ``cancelled``."""

    status: str
    model_dir: Path | None
    best_epoch: int | None
    best_val_accuracy: float | None
    epochs_run: int
    history: dict[str, list[float]]
    seconds: float
    batchnorm: dict[str, Any] | None = None  # see training.batchnorm.recalibrate_if_better


def class_weights(labels: np.ndarray, *, mode: str) -> np.ndarray:
    """Per-class loss weights, mean 1 over the training examples.

    ``sqrt`` weighs a class by ``1/sqrt(frequency)``: it lifts Disgust (1.5% of Training) without
    the accuracy loss of full ``balanced`` (``1/frequency``) weighting.
    """
    if mode not in CLASS_WEIGHTINGS:
        raise ValueError(f"mode must be one of {CLASS_WEIGHTINGS}, not {mode!r}")
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    if mode == "none":
        return np.ones(NUM_CLASSES)
    freq = np.maximum(counts, 1) / counts.sum()
    weights = 1.0 / np.sqrt(freq) if mode == "sqrt" else 1.0 / freq
    weights[counts == 0] = 0.0
    return weights / float((weights * counts).sum() / counts.sum())


def _targets(split: Any, *, soft: bool) -> np.ndarray:
    if soft and split.soft is not None:
        return split.soft.astype("float32")
    return np.eye(NUM_CLASSES, dtype="float32")[split.y]


def _hardware() -> dict[str, Any]:
    import keras  # noqa: PLC0415

    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
    }
    try:
        if info["backend"] == "jax":
            import jax  # noqa: PLC0415

            info["devices"] = [str(d.device_kind) for d in jax.devices()]
        elif info["backend"] == "tensorflow":
            import tensorflow as tf  # noqa: PLC0415

            info["devices"] = [d.device_type for d in tf.config.list_physical_devices()]
    except Exception:  # device listing is informative only
        pass
    return info


def _make_schedule(config: TrainConfig, steps_per_epoch: int) -> Any:
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


def _make_optimizer(config: TrainConfig, steps_per_epoch: int) -> Any:
    import keras  # noqa: PLC0415

    schedule = _make_schedule(config, steps_per_epoch)
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


def register_training_objects() -> None:
    """Make this project's own Keras classes known before a checkpoint is loaded: the offset schedule,
    the custom augmentation layers and the served models' layers (:mod:`core.layers`)."""
    offset_schedule_class()
    register_augment_layers()
    register_layers()


def absolute_schedule(optimizer: Any, offset: int) -> Any:
    """The optimiser's learning-rate schedule over the run's own steps (its offset taken off)."""
    schedule = optimizer._learning_rate  # noqa: SLF001 - Keras keeps the schedule object only here
    if offset:
        if not isinstance(schedule, offset_schedule_class()):
            raise TrainingError("the checkpoint's state continues a compact copy, but its schedule is not offset")
        return schedule.schedule
    return schedule


def _set_schedule(optimizer: Any, schedule: Any, offset: int) -> None:
    optimizer.learning_rate = offset_schedule_class()(schedule, offset) if offset else schedule


def _replan_schedule(optimizer: Any, config: TrainConfig, steps_per_epoch: int, offset: int = 0) -> None:
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
    _set_schedule(optimizer, keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=current,
        decay_steps=total - done,
        alpha=min(1.0, final / current) if current > 0 else 0.0,
        warmup_target=current,
        warmup_steps=done,
    ), offset)  # fmt: skip


def _restart_schedule(
    optimizer: Any, config: TrainConfig, steps_per_epoch: int, peak: float, offset: int = 0
) -> None:
    """Start a new cosine cycle at ``peak`` that anneals to the usual final rate at ``config.epochs``.

    A warm restart (Loshchilov & Hutter, SGDR): a finished, annealed run continues from its weights
    and optimiser moments with a fresh learning-rate cycle instead of a rate that is already spent.
    """
    import keras  # noqa: PLC0415

    done = int(np.asarray(optimizer.iterations)) + offset
    total = config.epochs * steps_per_epoch
    if total <= done:
        raise TrainingError(f"a restart needs epochs beyond the {done // steps_per_epoch} already run")
    final = config.learning_rate * 0.01
    _set_schedule(optimizer, keras.optimizers.schedules.CosineDecay(
        # Steps before ``done`` are history; from ``done`` on the rate is ``peak``, then decays.
        initial_learning_rate=peak,
        decay_steps=total - done,
        alpha=min(1.0, final / peak),
        warmup_target=peak,
        warmup_steps=done,
    ), offset)  # fmt: skip


def _build_training_model(
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
        optimizer=_make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model, trainer


def _initialise_from(model: Any, config: TrainConfig) -> dict[str, Any]:
    """Copy the weights of the trained model directory ``config.init`` into ``model`` (a new run's served model).

    Returns:
        What it started from, for the metadata: ``{"name", "architecture", "model_sha256"}``.

    Raises:
        TrainingError: the directory is unusable, or its model is not ``config``'s architecture.
    """
    from core.errors import ModelLoadError  # noqa: PLC0415
    from core.model_store import load_model_dir  # noqa: PLC0415

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


def _served_model(trainer: Any) -> Any:
    """The inner served model of a training model (the layer that is a ``keras.Model``)."""
    import keras  # noqa: PLC0415

    for layer in trainer.layers:
        if isinstance(layer, keras.Model) and layer.name != "augment":
            return layer
    raise TrainingError("checkpoint holds no served model")


class _Monitor:
    """Keras callback (built lazily so Keras loads only when training runs)."""

    @staticmethod
    def create(**kwargs: Any) -> Any:
        import keras  # noqa: PLC0415

        class Monitor(keras.callbacks.Callback):
            def __init__(
                self,
                *,
                config: TrainConfig,
                ckpt_dir: Path,
                state: dict[str, Any],
                steps_per_epoch: int,
                on_progress: Callable[[ProgressEvent], None] | None,
                stop_event: threading.Event | None,
                snapshots: bool = False,
            ) -> None:
                super().__init__()
                self.config = config
                self.snapshots = snapshots
                self.ckpt_dir = ckpt_dir
                self.state = state
                self.steps = steps_per_epoch
                self.on_progress = on_progress
                self.stop_event = stop_event
                self.cancelled = False
                self.early_stopped = False
                self.t0 = time.monotonic()
                self.epoch_t0 = self.t0
                self.epoch = 0
                self.batches_done = 0

            def _eta(self, epoch: int, batch: int) -> float | None:
                done = self.batches_done
                if not done:
                    return None
                remaining = (self.config.epochs - epoch) * self.steps - batch
                return remaining * (time.monotonic() - self.t0) / done

            def _emit(self, kind: str, batch: int, logs: dict[str, Any] | None, message: str = "") -> None:
                if self.on_progress is None:
                    return
                clean = {k: float(v) for k, v in (logs or {}).items() if np.isscalar(v) or np.ndim(v) == 0}
                spent = time.monotonic() - self.t0
                rate = self.batches_done / spent if self.batches_done and spent > 0 else None
                self.on_progress(
                    ProgressEvent(
                        kind, self.epoch, self.config.epochs, batch, self.steps, clean,
                        time.monotonic() - self.t0 + self.state.get("seconds", 0.0),
                        self._eta(self.epoch, batch), {k: list(v) for k, v in self.state["history"].items()}, message,
                        rate,
                    )
                )

            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                self.epoch = epoch
                self.epoch_t0 = time.monotonic()

            def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
                self.batches_done += 1
                self._emit("batch", batch + 1, logs)
                if self.stop_event is not None and self.stop_event.is_set():
                    self.cancelled = True
                    self.model.stop_training = True

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                logs = dict(logs or {})
                if self.cancelled:
                    # A part-epoch is not a checkpoint: resume repeats this epoch.
                    return
                history = self.state["history"]
                for key, value in logs.items():
                    history.setdefault(key, []).append(float(value))
                history.setdefault("lr", []).append(float(np.asarray(self.model.optimizer.learning_rate)))
                history.setdefault("epoch_seconds", []).append(time.monotonic() - self.epoch_t0)
                val_acc = float(logs.get("val_accuracy", logs.get("accuracy", 0.0)))
                improved = self.state["best_val_accuracy"] is None or val_acc > self.state["best_val_accuracy"]
                # Files named by epoch, then the state that names them, then the old files go: a run
                # killed anywhere in between resumes from a state and files that belong together.
                if improved:
                    self.state["best_val_accuracy"] = val_acc
                    self.state["best_epoch"] = epoch + 1
                    self.state["best_file"] = f"best-{epoch + 1:03d}.keras"
                    _save_atomic(_served_model(self.model), self.ckpt_dir / self.state["best_file"])
                if self.snapshots:
                    _save_atomic(_served_model(self.model), self.ckpt_dir / snapshot_name(epoch + 1))
                self.state["last_file"] = f"last-{epoch + 1:03d}.keras"
                _save_atomic(self.model, self.ckpt_dir / self.state["last_file"])
                self.state["epoch"] = epoch + 1
                self.state["seconds"] = self.state.get("seconds", 0.0) + (time.monotonic() - self.epoch_t0)
                write_json_atomic(self.ckpt_dir / "state.json", self.state)
                _remove_stale_checkpoints(self.ckpt_dir, self.state)
                restarts = self.state.get("restarts") or [{"epoch": 0}]
                since = max(self.state["best_epoch"], restarts[-1]["epoch"])
                if epoch + 1 - since >= self.config.patience:
                    self.early_stopped = True
                    self.model.stop_training = True
                self._emit("epoch", self.steps, logs)

        return Monitor(**kwargs)


def _checkpoint_file(state: dict[str, Any], kind: str) -> str:
    """The checkpoint file of ``kind`` (``best`` or ``last``) a state names; older runs used fixed names."""
    return str(state.get(f"{kind}_file") or f"{kind}.keras")


def _remove_stale_checkpoints(ckpt_dir: Path, state: dict[str, Any]) -> None:
    keep = {_checkpoint_file(state, "best"), _checkpoint_file(state, "last")}
    # A compact copy's weights (training.checkpoint) are stale once the run has checkpointed again.
    stale = [*ckpt_dir.glob("best*.keras"), *ckpt_dir.glob("last*.keras"), *ckpt_dir.glob("*.f16.npz")]
    for path in stale:
        if path.name not in keep:
            path.unlink(missing_ok=True)


def snapshot_name(epoch: int) -> str:
    """File name, inside a run's ``checkpoint/``, of the served model as it was after ``epoch``."""
    return f"epoch-{epoch:03d}.keras"


def _save_atomic(model: Any, path: Path) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def train(
    config: TrainConfig,
    *,
    data: FERData | str | Path,
    out_dir: str | Path,
    resume: bool = False,
    ferplus_path: str | Path | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    stop_event: threading.Event | None = None,
    restart_lr: float | None = None,
    snapshots: bool = False,
    resume_from: str | Path | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train ``config`` on FER2013 and save the model chosen on PublicTest into ``out_dir``.

    Args:
        config: what to train.
        data: a loaded :class:`FERData`, or a path :func:`training.data.load_fer2013` accepts.
        out_dir: the model directory (``models/NAME``); its ``checkpoint/`` holds resume state.
        resume: continue from ``out_dir/checkpoint`` instead of starting again; the checkpoint's
            recipe is kept, and only ``config.epochs`` and ``config.patience`` are taken from this call.
        ferplus_path: FER+ label file, used when ``config.ferplus`` is set.
        on_progress: called after every batch and epoch (from the training thread).
        stop_event: set it to cancel; the run stops after the current batch, keeps its last
            complete-epoch checkpoint for ``resume``, and saves the best model so far.
        restart_lr: with ``resume``, begin a new cosine cycle at this rate (a warm restart) for the
            epochs up to ``config.epochs``; early stopping then counts from the restart.
        snapshots: also keep the served model of every epoch, ``checkpoint/epoch-NNN.keras``
            (about 5 MB each for ``fast``), for :mod:`training.average` to average.
        resume_from: a checkpoint to continue, copied into ``out_dir/checkpoint`` first (which must
            not hold one): a compact copy (:mod:`training.checkpoint`) or another run's checkpoint.
        verbose: Keras ``fit`` verbosity (1 shows a progress bar).

    Returns:
        How the run ended.

    Raises:
        DatasetError: unusable data. TrainingError: unusable checkpoint or configuration.
    """
    import keras  # noqa: PLC0415

    if restart_lr is not None and not restart_lr > 0:
        raise TrainingError(f"restart_lr must be a positive learning rate, not {restart_lr}")
    started = time.monotonic()
    out = Path(out_dir)
    ckpt_dir = out / CHECKPOINT_DIR
    state_path = ckpt_dir / "state.json"
    if resume_from is not None:
        from training.checkpoint import install_checkpoint  # noqa: PLC0415 - it imports this module

        _make_dir(ckpt_dir, out)
        install_checkpoint(resume_from, ckpt_dir)
        resume = True
    if resume and state_path.is_file():
        # The recipe (architecture, optimiser, augmentation, labels, batch size) comes from the
        # checkpoint, before the data is prepared with it; the stopping rules (epochs, patience)
        # from this call, so a resumed run can be given more room.
        saved = TrainConfig.from_dict(json.loads(state_path.read_text())["config"])
        if saved.arch != config.arch:
            raise TrainingError(f"checkpoint in {ckpt_dir} is for {saved.arch!r}, not {config.arch!r}")
        config = replace(saved, epochs=config.epochs, patience=config.patience)
    if not isinstance(data, FERData):
        data = load_fer2013(data)
    if config.ferplus:
        if ferplus_path is None:
            raise TrainingError("ferplus=True needs the FER+ label file (ferplus_path)")
        data = with_ferplus(data, ferplus_path)
    if config.ferplus_blend > 0:
        if ferplus_path is None:
            raise TrainingError("ferplus_blend needs the FER+ label file (ferplus_path, --ferplus CSV)")
        data = blend_ferplus(data, ferplus_path, weight=config.ferplus_blend)
    if "Training" not in data.splits or "PublicTest" not in data.splits:
        raise DatasetError(f"{data.source} needs Training and PublicTest splits; it has {', '.join(data.splits)}")
    train_split, val_split = data["Training"], data["PublicTest"]
    x = train_split.x[..., None].astype("float32")
    y = _targets(train_split, soft=config.ferplus or config.ferplus_blend > 0)
    labels = train_split.y
    if config.limit:
        x, y, labels = x[: config.limit], y[: config.limit], labels[: config.limit]
    weights = class_weights(labels, mode=config.class_weighting)[labels].astype("float32")
    xv = val_split.x[..., None].astype("float32")
    yv = np.eye(NUM_CLASSES, dtype="float32")[val_split.y]
    steps = int(np.ceil(len(x) / config.batch_size))
    _make_dir(ckpt_dir, out)

    def preparing(epoch: int, message: str) -> None:
        if on_progress is not None:
            on_progress(ProgressEvent("preparing", epoch, config.epochs, 0, steps, {}, time.monotonic() - started,
                                      None, state["history"], message))  # fmt: skip

    if resume and state_path.is_file():
        state = json.loads(state_path.read_text())
        saved = TrainConfig.from_dict(state["config"])
        register_training_objects()  # before a checkpoint holding any of them is read
        if "compact" in state:
            from training.checkpoint import restore_compact  # noqa: PLC0415 - it imports this module

            trainer, message = restore_compact(ckpt_dir, state, saved, steps)
            preparing(int(state["epoch"]), message)
        else:
            try:
                trainer = keras.saving.load_model(ckpt_dir / _checkpoint_file(state, "last"))
            except Exception as exc:
                raise TrainingError(
                    f"checkpoint {ckpt_dir / _checkpoint_file(state, 'last')} is unusable: {exc}"
                ) from exc
        offset = int(state.get("step_offset", 0))
        if restart_lr is not None:
            _restart_schedule(trainer.optimizer, config, steps, restart_lr, offset)
            state.setdefault("restarts", []).append({"epoch": int(state["epoch"]), "learning_rate": restart_lr})
        elif saved.epochs != config.epochs:
            _replan_schedule(trainer.optimizer, config, steps, offset)
        state["config"] = config.to_dict()
        keras.utils.set_random_seed(config.seed + state["epoch"])
    else:
        if restart_lr is not None:
            raise TrainingError("restart_lr continues a finished run: it needs resume and a checkpoint")
        served, trainer = _build_training_model(config, steps)
        state = {
            "config": config.to_dict(), "epoch": 0, "best_epoch": 0, "best_val_accuracy": None,
            "history": {}, "seconds": 0.0, "data_sha256": data.sha256, "started": _now(),
            "precision": resolve_precision(config.precision),
        }
        if config.init:
            state["init"] = _initialise_from(served, config)
    if config.distill_weight > 0:
        preparing(int(state["epoch"]), f"teacher {Path(config.teacher).name} classifies the Training faces")
        teacher, facts = cached_teacher_probabilities(config.teacher, x[..., 0], ckpt_dir)
        if facts is not None:
            state["teacher"] = facts
        y = blend_targets(y, soften(teacher, config.distill_temperature), weight=config.distill_weight)
    initial_epoch = int(state["epoch"])
    monitor = _Monitor.create(
        config=config, ckpt_dir=ckpt_dir, state=state, steps_per_epoch=steps,
        on_progress=on_progress, stop_event=stop_event, snapshots=snapshots,
    )
    if initial_epoch < config.epochs and not (stop_event is not None and stop_event.is_set()):
        try:
            if config.mixup > 0 or config.photometric > 0:
                batches = training_batches(
                    x, y, weights, batch_size=config.batch_size, seed=config.seed + initial_epoch,
                    mixup=config.mixup, photometric_p=config.photometric,
                )
                trainer.fit(
                    batches, epochs=config.epochs, initial_epoch=initial_epoch, validation_data=(xv, yv),
                    callbacks=[monitor], verbose=verbose,
                )
            else:
                trainer.fit(
                    x, y, sample_weight=weights, batch_size=config.batch_size, epochs=config.epochs,
                    initial_epoch=initial_epoch, validation_data=(xv, yv), callbacks=[monitor],
                    shuffle=True, verbose=verbose,
                )
        except OSError as exc:  # a checkpoint could not be written (disk full, folder gone)
            raise TrainingError(
                f"cannot write the checkpoint in {ckpt_dir}: {exc.strerror or exc}; free some space, then rerun "
                f"with --resume to continue from epoch {int(state['epoch']) + 1}"
            ) from exc
    status = "cancelled" if monitor.cancelled else "early_stopped" if monitor.early_stopped else "completed"
    model_dir = None
    batchnorm = None
    if state["best_epoch"]:
        register_training_objects()
        best = keras.saving.load_model(ckpt_dir / _checkpoint_file(state, "best"), compile=False)
        public_test_accuracy = state["best_val_accuracy"]
        if status != "cancelled":  # a cancel saves what there is at once
            if on_progress is not None:
                on_progress(
                    ProgressEvent("finishing", max(0, int(state["epoch"]) - 1), config.epochs, steps, steps, {},
                                  time.monotonic() - started, None, state["history"],
                                  "measuring batch-norm statistics on clean faces")
                )  # fmt: skip
            # Batch-norm statistics of augmented faces, measured again on clean ones: kept if PublicTest says so.
            best, batchnorm = recalibrate_if_better(best, x, xv, val_split.y)
            public_test_accuracy = max(
                batchnorm["val_accuracy_as_trained"], batchnorm["val_accuracy_recalibrated"] or 0.0
            )
        metadata = {
            "name": out.name,
            "architecture": config.arch,
            "config": config.to_dict(),
            "status": status,
            "data": {"source": Path(data.source).name, "layout": data.layout, "sha256": data.sha256, "notes": list(data.notes)},
            "train_size": int(len(x)),
            "epochs_run": int(state["epoch"]),
            "best_epoch": int(state["best_epoch"]),
            "public_test_accuracy": public_test_accuracy,
            "batchnorm": batchnorm,
            "restarts": state.get("restarts", []),
            "compact_resumes": state.get("compact_resumes", []),
            "serve_jitter": _jitter_facts(config.augment.serve_jitter) if config.augment.serve_jitter else None,
            "train_seconds": round(float(state["seconds"]), 1),
            "precision": state.get("precision", "float32"),
            "teacher": state.get("teacher"),
            "init": state.get("init"),
            "hardware": _hardware(),
            "history": state["history"],
            "created": _now(),
            "parameters": int(best.count_params()),
            "terms_of_use": FER2013_TERMS,
        }
        save_model_dir(best, metadata, out)
        model_dir = out
    result = TrainResult(
        status, model_dir, state["best_epoch"] or None, state["best_val_accuracy"], int(state["epoch"]),
        state["history"], time.monotonic() - started, batchnorm,
    )
    if on_progress is not None:
        on_progress(
            ProgressEvent("end", max(0, result.epochs_run - 1), config.epochs, steps, steps, {}, result.seconds, 0.0,
                          state["history"], status)
        )
    return result


def _make_dir(path: Path, out: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"cannot write to {out}: {exc.strerror or exc}") from exc


def _jitter_facts(path: str) -> dict[str, Any]:
    """The serving-jitter measurement a run drew from, for its metadata."""
    from training.jitter import JITTER_FILES  # noqa: PLC0415

    report = json.loads(JITTER_FILES[path].read_text())
    keys = ("detector", "faces", "refound", "seed", "summary", "model")
    return {"path": path, **{key: report.get(key) for key in keys}}


def portable_path(path: str | Path) -> str:
    """``path`` relative to the working folder when inside it, else its last part: what metadata keeps
    (never a machine's absolute path)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return Path(path).name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="fer2013.csv(.gz), the trainval .npz(.xz) pack, or a train/test folder")
    parser.add_argument("--arch", default=defaults.arch, help=f"architecture: {', '.join(list_architectures())}")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--class-weighting", choices=CLASS_WEIGHTINGS, default=defaults.class_weighting)
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--erasing", type=float, default=defaults.augment.erasing, help="random-erasing probability")
    parser.add_argument("--ferplus", metavar="CSV", help="train on FER+ vote distributions from this file")
    parser.add_argument(
        "--ferplus-blend", type=float, default=0.0, metavar="W",
        help="with --ferplus CSV: blend W of FER+'s votes into Training's FER2013 labels instead of replacing "
        "them (PublicTest keeps FER2013's labels)",
    )  # fmt: skip
    parser.add_argument(
        "--serve-jitter", nargs="?", const="photo", choices=("photo", "webcam"), default="",
        help="draw each face's offset, scale and rotation from the measured crop errors of a serving path "
        "(photo, the default: training/serve_jitter.json; webcam: ..._webcam.json) instead of the default "
        "rotation, zoom and shift",
    )  # fmt: skip
    parser.add_argument(
        "--photometric", type=float, default=0.0, metavar="P",
        help="apply each of uneven light, gamma, low resolution, blur and JPEG to a face with probability P",
    )  # fmt: skip
    parser.add_argument(
        "--equalize", action="store_true", help="equalise each face's histogram as the model's first layer"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training faces (smoke runs)")
    parser.add_argument("--mixup", type=float, default=defaults.mixup, metavar="ALPHA", help="mixup Beta alpha, e.g. 0.2 (0: off)")
    parser.add_argument("--teacher", default="", metavar="MODEL_DIR", help="distil from this model directory (an ensemble, say)")
    parser.add_argument(
        "--init", default="", metavar="MODEL_DIR",
        help="start from this trained model's weights (same architecture): a fine-tune, e.g. of models/fast with "
        "--serve-jitter and a small --lr, instead of a run from scratch",
    )
    parser.add_argument(
        "--distill-weight", type=float, default=None, metavar="W",
        help="share of the teacher's probabilities in the targets (default 0.5 with --teacher)",
    )  # fmt: skip
    parser.add_argument("--distill-temperature", type=float, default=defaults.distill_temperature, metavar="T")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default=defaults.precision,
        help="compute precision: auto is bfloat16 on a GPU or a CPU with native bf16 (AVX-512 BF16, AMX), "
        "else float32; the saved model is float32 either way",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="model directory to write, e.g. models/fast")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    parser.add_argument(
        "--resume-from", metavar="DIR",
        help="continue the checkpoint in DIR (a compact copy from python -m training.checkpoint compact, "
        "or a run folder) in OUT, which must not hold a checkpoint yet",
    )  # fmt: skip
    parser.add_argument(
        "--restart-lr", type=float, metavar="LR",
        help="with --resume: a warm restart, a new cosine cycle from LR up to --epochs (for a run that already annealed)",
    )
    parser.add_argument(
        "--snapshots", action="store_true",
        help="keep every epoch's model as OUT/checkpoint/epoch-NNN.keras, for python -m training.average",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    augment = AugmentConfig(rotation_degrees=0, zoom=0, shift=0, horizontal_flip=False, erasing=0, brightness=0, contrast=0) if args.no_augment else replace(AugmentConfig(), erasing=args.erasing)
    if args.serve_jitter:
        augment = replace(augment, serve_jitter=args.serve_jitter)
    try:
        config = TrainConfig(
            arch=args.arch, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
            learning_rate=args.lr, weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
            class_weighting=args.class_weighting, patience=args.patience, seed=args.seed, augment=augment,
            ferplus=bool(args.ferplus) and not args.ferplus_blend, ferplus_blend=args.ferplus_blend,
            photometric=args.photometric, equalize=args.equalize, limit=args.limit, precision=args.precision,
            mixup=args.mixup,
            teacher=args.teacher,
            init=args.init,
            distill_weight=(0.5 if args.teacher else 0.0) if args.distill_weight is None else args.distill_weight,
            distill_temperature=args.distill_temperature,
        )
        result = train(
            config, data=args.data, out_dir=args.out, resume=args.resume, ferplus_path=args.ferplus,
            restart_lr=args.restart_lr, snapshots=args.snapshots, resume_from=args.resume_from,
            on_progress=progress_printer(), verbose=0,
        )
    except (ValueError, FERError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last complete epoch is checkpointed; rerun with --resume", file=sys.stderr)
        return 130
    print(
        f"{result.status}: {result.epochs_run} epochs, best PublicTest accuracy "
        f"{result.best_val_accuracy if result.best_val_accuracy is not None else float('nan'):.4f} "
        f"at epoch {result.best_epoch}; model in {result.model_dir}"
    )
    if result.batchnorm and result.batchnorm["val_accuracy_recalibrated"] is not None:
        bn = result.batchnorm
        verdict = "kept" if bn["recalibrated"] else "not kept"
        print(
            f"batch-norm statistics measured again on clean Training faces: PublicTest "
            f"{bn['val_accuracy_as_trained']:.4f} -> {bn['val_accuracy_recalibrated']:.4f} ({verdict})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
