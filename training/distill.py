"""Distillation: a teacher's probabilities on the Training faces as (part of) a student's targets.

    python -m training.train --data data/fer2013.csv.gz --arch fast --teacher models/ensemble \
        --distill-weight 0.5 --out models/fast-distilled

The teacher (any model directory, an ensemble included) classifies every Training face once, with
its flip average, before the first epoch; the probabilities are kept in the run's checkpoint folder
(``teacher.npy``), so a resumed run needs neither the teacher nor the time again. The student's
target for a face is ``(1 - weight) * its label + weight * the teacher's probabilities`` (softened
by ``temperature``); label smoothing and class weights apply on top as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FERError
from core.labels import NUM_CLASSES

TEACHER_FILE = "teacher.npy"


class DistillError(FERError):
    """The teacher cannot be used (missing, unusable, or its targets do not fit the faces)."""


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at ``temperature`` (``p ** (1/T)``, renormalised): above 1 flatter, below sharper."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, not {temperature!r}")
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    if temperature != 1.0:
        p = np.exp(np.log(p) / temperature)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def blend_targets(targets: np.ndarray, teacher: np.ndarray, *, weight: float) -> np.ndarray:
    """``(1 - weight) * targets + weight * teacher``, row by row (both (N, 7), rows summing to 1)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"distill weight must be within 0..1, not {weight!r}")
    if targets.shape != teacher.shape:
        raise DistillError(f"teacher probabilities {teacher.shape} do not match the targets {targets.shape}")
    return ((1.0 - weight) * targets + weight * teacher).astype(np.float32)


def teacher_probabilities(
    teacher: str | Path, faces: np.ndarray, *, flip: bool = True, batch_size: int = 512,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The teacher model directory's probabilities for ``faces`` (N, 48, 48[, 1]) raw pixels.

    Returns:
        ``(probs (N, 7) float32, facts)``: ``facts`` names the teacher (directory name, its model
        file's sha256, architecture), never a path of this machine.

    Raises:
        DistillError: the teacher directory is missing or unusable.
    """
    from core.errors import ModelLoadError  # noqa: PLC0415
    from core.model_store import load_model_dir, resolve_model_dir  # noqa: PLC0415

    try:
        model, metadata = load_model_dir(resolve_model_dir(str(teacher)))
    except (ModelLoadError, FileNotFoundError, ValueError) as exc:
        raise DistillError(f"teacher {teacher}: {exc}") from exc
    x = np.asarray(faces, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    out = np.empty((len(x), NUM_CLASSES), dtype=np.float32)
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        probs = np.asarray(model(batch, training=False), dtype=np.float32)
        if flip:
            probs = 0.5 * (probs + np.asarray(model(batch[:, :, ::-1], training=False), dtype=np.float32))
        out[start : start + len(batch)] = probs
        if on_progress is not None:
            on_progress(start + len(batch), len(x))
    facts = {
        "name": Path(str(teacher)).name, "architecture": metadata.get("architecture"),
        "model_sha256": metadata.get("model_sha256"), "flip": flip,
    }  # fmt: skip
    return out, facts


def cached_teacher_probabilities(
    teacher: str | Path, faces: np.ndarray, ckpt_dir: Path, **options: Any
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """:func:`teacher_probabilities`, kept in ``ckpt_dir/teacher.npy`` for a resumed run.

    A cached file is used when it fits the faces (one row each); the teacher is not opened then,
    and the facts are ``None`` (the checkpoint state keeps them).
    """
    path = ckpt_dir / TEACHER_FILE
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DistillError(f"{path} is unreadable ({exc}); delete it to ask the teacher again") from exc
        if cached.shape == (len(faces), NUM_CLASSES):
            return cached.astype(np.float32), None
    probs, facts = teacher_probabilities(teacher, faces, **options)
    tmp = path.with_name(f".tmp-{TEACHER_FILE}")
    np.save(tmp, probs.astype(np.float16), allow_pickle=False)
    tmp.replace(path)
    return probs, facts
