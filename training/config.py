"""A training run's recipe and what it reports: :class:`TrainConfig`, :class:`ProgressEvent`, :class:`TrainResult`.

The recipe is saved in a run's checkpoint and its model's metadata. Nothing here imports Keras:
the app reads these dataclasses in a server that never loads TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import FERError
from training.architectures import list_architectures
from training.augment import AugmentConfig
from training.precision import PRECISIONS
from training.provenance import portable_path

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
