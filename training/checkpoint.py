"""Compact copies of a training run's checkpoint, small enough to copy off a machine, and resuming from them.

    python -m training.checkpoint compact runs/fast --out checkpoints/fast
    python -m training.train --data data/fer2013.csv.gz --arch fast --epochs 60 \\
        --out runs/fast-continued --resume-from checkpoints/fast

A run's ``checkpoint/`` holds the whole training model after its last epoch (weights, Adam's two
moments per weight, the augmentation's random state: about 15 MB for ``fast``) and the best epoch's
served model. A compact copy keeps what a continuation needs, and nothing else::

    checkpoint/state.json          the run's state (recipe, history, best epoch), plus "compact":
                                   the optimiser's step and its learning-rate schedule
    checkpoint/last-NNN.f16.npz    the served model's weights after the last epoch, as float16
    checkpoint/best-NNN.f16.npz    ... after the best epoch (no second file when that is the last)
    checkpoint/teacher.npy         a distilled run's teacher probabilities, as the run keeps them
    checkpoint/epoch-NNN.f16.npz   the run's --snapshots, only when asked (``--snapshots``; ``--snapshots
                                   50``: those from epoch 50 on, the ones an average of the last
                                   epochs needs, at 2.5 MB each)

About 2.5 MB a model for ``fast`` (1.24 M weights). Resuming from it (``--resume-from``, or
``--resume`` on a folder holding a copy) rebuilds the training model from the recipe and loads the
weights; the optimiser starts afresh: its moments (Adam's, or SGD's momentum) restart from zero,
while the learning-rate schedule goes on at the step where the run stopped (see
:func:`training.schedules.offset_schedule_class`). The augmentation's random stream is seeded anew, as
on every resume. After its first epoch the continued run writes full checkpoints again.

Every write is atomic in the way the run's own are: the files under new names, then ``state.json``
that names them, then the files no state names go, so a copy killed at any point leaves the previous
copy whole.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from core.errors import FERError
from core.model_store import write_json_atomic
from training.architectures import build_model
from training.checkpoint_files import CHECKPOINT_DIR, STATE_FILE, checkpoint_file, save_atomic, snapshot_name
from training.config import TrainConfig, TrainingError
from training.distill import TEACHER_FILE
from training.precision import policy_name
from training.schedules import absolute_schedule, set_schedule
from training.trainer import build_training_model, register_training_objects, served_model

COMPACT_SUFFIX = ".f16.npz"
# Largest magnitude float16 holds; a weight array beyond it stays float32.
FLOAT16_MAX = 65504.0
_ATTEMPTS = 3


class CompactCheckpoint(NamedTuple):
    """A compact copy as written: its folder, the epochs it holds and its size."""

    path: Path
    epoch: int
    best_epoch: int
    files: tuple[str, ...]
    bytes: int


def checkpoint_dir(run: str | Path) -> Path:
    """The folder holding ``state.json``: ``run/checkpoint``, or ``run`` itself.

    Raises:
        TrainingError: neither holds a checkpoint.
    """
    run = Path(run)
    for candidate in (run / CHECKPOINT_DIR, run):
        if (candidate / STATE_FILE).is_file():
            return candidate
    raise TrainingError(f"no checkpoint in {run}: expected {run / CHECKPOINT_DIR / STATE_FILE}")


def save_weights_f16(model: Any, path: Path) -> None:
    """Write ``model``'s weights to ``path`` (``.npz``, float16 where the values fit), atomically."""
    arrays: dict[str, np.ndarray] = {}
    for i, variable in enumerate(model.weights):
        value = np.asarray(variable)
        fits = value.dtype.kind == "f" and np.all(np.isfinite(value))
        if fits and float(np.max(np.abs(value), initial=0)) < FLOAT16_MAX:
            value = value.astype(np.float16)
        arrays[f"w{i:04d}"] = value
    paths = np.array([v.path for v in model.weights], dtype=str)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, paths=paths, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_weights_f16(model: Any, path: Path) -> None:
    """Load weights written by :func:`save_weights_f16` into ``model`` (cast to its variables' dtypes).

    Raises:
        TrainingError: the file is unreadable or holds the weights of another architecture.
    """
    try:
        with np.load(path, allow_pickle=False) as stored:
            paths = [str(p) for p in stored["paths"]]
            arrays = [stored[f"w{i:04d}"] for i in range(len(paths))]
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"compact weights {path} are unreadable: {exc}") from exc
    variables = model.weights
    shapes = [tuple(v.shape) for v in variables]
    if [a.shape for a in arrays] != shapes:
        raise TrainingError(
            f"{path.name} holds {len(arrays)} weight arrays (first {paths[:1]}) that do not fit {model.name!r} "
            f"({len(shapes)} arrays): it is another architecture's checkpoint"
        )
    for variable, value in zip(variables, arrays):
        variable.assign(value.astype(variable.dtype))


def _read_state(ckpt: Path) -> dict[str, Any]:
    try:
        return json.loads((ckpt / STATE_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise TrainingError(f"checkpoint state {ckpt / STATE_FILE} is unreadable: {exc}") from exc


def _snapshot_files(ckpt: Path, since: int = 1) -> list[Path]:
    """The run's per-epoch snapshots (``.keras`` or compact) of epoch ``since`` and later."""
    found = [*ckpt.glob("epoch-[0-9][0-9][0-9].keras"), *ckpt.glob(f"epoch-[0-9][0-9][0-9]{COMPACT_SUFFIX}")]
    return sorted(path for path in found if int(path.name[6:9]) >= since)


def _since(snapshots: bool | int) -> int | None:
    """``snapshots`` as the first epoch whose snapshot travels (``None``: none; ``True``: all)."""
    if not snapshots:
        return None
    return 1 if snapshots is True else max(1, int(snapshots))


def _named_files(ckpt: Path, state: dict[str, Any], *, snapshots: bool | int) -> list[str]:
    """The files a state needs (best, last, the teacher cache) and, if asked, the snapshots (all with
    ``True``, from that epoch on with a number)."""
    names = [checkpoint_file(state, "last")] if state.get("epoch") else []
    if state.get("best_epoch"):
        names.append(checkpoint_file(state, "best"))
    if (ckpt / TEACHER_FILE).is_file():
        names.append(TEACHER_FILE)
    since = _since(snapshots)
    if since is not None:
        names += [p.name for p in _snapshot_files(ckpt, since)]
    return list(dict.fromkeys(names))


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".tmp-{dst.name}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _finish(dst: Path, state: dict[str, Any], files: list[str]) -> None:
    """Write the state that names ``files``, then remove what it does not name."""
    write_json_atomic(dst / STATE_FILE, state)
    keep = {*files, STATE_FILE}
    for path in dst.iterdir():
        if path.is_file() and path.name not in keep:
            path.unlink(missing_ok=True)


def _load_keras(path: Path, *, compile: bool) -> Any:
    import keras  # noqa: PLC0415

    if not path.is_file():
        raise FileNotFoundError(path)
    register_training_objects()  # a checkpoint may hold the project's own schedule and layers
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as exc:
        if not path.is_file():  # the run moved on meanwhile and removed it
            raise FileNotFoundError(path) from exc
        raise TrainingError(f"checkpoint {path} is unusable: {exc}") from exc


def _compact_files(
    src: Path, state: dict[str, Any], dst: Path, *, snapshots: bool | int
) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """Write the compact files of ``state`` into ``dst``; return the compact state and its files."""
    import keras  # noqa: PLC0415

    if "compact" in state:  # already compact: a copy of a copy
        files = _named_files(src, state, snapshots=snapshots)
        for name in files:
            _copy_atomic(src / name, dst / name)
        return state, files
    epoch, best_epoch = int(state["epoch"]), int(state.get("best_epoch") or 0)
    if not epoch:
        raise TrainingError(f"the run in {src.parent} has not finished an epoch yet: nothing to compact")
    trainer = _load_keras(src / checkpoint_file(state, "last"), compile=True)
    offset = int(state.get("step_offset", 0))
    step = int(np.asarray(trainer.optimizer.iterations)) + offset
    schedule = keras.saving.serialize_keras_object(absolute_schedule(trainer.optimizer, offset))
    last = f"last-{epoch:03d}{COMPACT_SUFFIX}"
    save_weights_f16(served_model(trainer), dst / last)
    files = [last]
    best = last
    if best_epoch and best_epoch != epoch:
        best = f"best-{best_epoch:03d}{COMPACT_SUFFIX}"
        save_weights_f16(_load_keras(src / checkpoint_file(state, "best"), compile=False), dst / best)
        files.append(best)
    if (src / TEACHER_FILE).is_file():
        _copy_atomic(src / TEACHER_FILE, dst / TEACHER_FILE)
        files.append(TEACHER_FILE)
    since = _since(snapshots)
    if since is not None:
        for path in _snapshot_files(src, since):
            name = path.name.replace(".keras", COMPACT_SUFFIX)
            if path.suffix == ".keras":
                save_weights_f16(_load_keras(path, compile=False), dst / name)
            else:
                _copy_atomic(path, dst / name)
            files.append(name)
    compact = {k: v for k, v in state.items() if k != "step_offset"}
    compact.update(last_file=last, best_file=best if best_epoch else None)
    compact["compact"] = {
        "step": step, "schedule": schedule, "optimizer": type(trainer.optimizer).__name__,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    return compact, list(dict.fromkeys(files))


def compact_checkpoint(run: str | Path, *, out: str | Path, snapshots: bool | int = False) -> CompactCheckpoint:
    """Write a compact copy of the checkpoint of ``run`` (a run folder) into ``out/checkpoint``.

    ``snapshots``: also the run's per-epoch snapshots: all with ``True``, from that epoch on with a number.

    The run may be training meanwhile: a copy taken while it checkpoints another epoch starts again
    from the newer state. An older copy in ``out`` is replaced only once the new one is complete.

    Raises:
        TrainingError: no checkpoint in ``run``, an unusable one, or ``out`` is the run itself.
    """
    src = checkpoint_dir(run)
    dst = Path(out) / CHECKPOINT_DIR
    if dst.resolve() == src.resolve():
        raise TrainingError(f"the compact copy needs a folder of its own, not the run's {src}")
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    for attempt in range(_ATTEMPTS):
        state = _read_state(src)
        try:
            compact, files = _compact_files(src, state, dst, snapshots=snapshots)
            break
        except FileNotFoundError as exc:  # the run checkpointed again: its new state names new files
            if attempt == _ATTEMPTS - 1:
                raise TrainingError(f"the checkpoint in {src} kept changing while it was copied ({exc})") from exc
    _finish(dst, compact, files)
    return CompactCheckpoint(
        dst, int(compact["epoch"]), int(compact.get("best_epoch") or 0), tuple(files),
        sum((dst / name).stat().st_size for name in [*files, STATE_FILE]),
    )


def install_checkpoint(source: str | Path, ckpt_dir: Path) -> None:
    """Copy the checkpoint in ``source`` (compact or full) into ``ckpt_dir``, to be resumed there.

    Raises:
        TrainingError: ``source`` holds no checkpoint, or ``ckpt_dir`` already holds one.
    """
    src = checkpoint_dir(source)
    if (ckpt_dir / STATE_FILE).is_file():
        raise TrainingError(
            f"{ckpt_dir.parent} already holds a checkpoint: continue it with --resume, or give --resume-from "
            "a new --out folder"
        )
    state = _read_state(src)
    files = _named_files(src, state, snapshots=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for name in files:
        if not (src / name).is_file():
            raise TrainingError(f"the checkpoint in {src} is incomplete: its state names {name}, which is missing")
        _copy_atomic(src / name, ckpt_dir / name)
    write_json_atomic(ckpt_dir / STATE_FILE, state)


def restore_compact(
    ckpt_dir: Path, state: dict[str, Any], config: TrainConfig, steps_per_epoch: int
) -> tuple[Any, str]:
    """The training model of a compact checkpoint in ``ckpt_dir``, ready to go on training.

    ``state`` (the compact one) is updated in memory to the form a full checkpoint has: its best
    model and snapshots are written back as ``.keras`` files, and ``step_offset`` records where the
    fresh optimiser's count begins. The compact files stay until the run's next checkpoint.

    Returns:
        ``(trainer, message)``: the compiled training model, and what happened, for the person.
    """
    import keras  # noqa: PLC0415

    info = state["compact"]
    precision = state.get("precision", "float32")
    _, trainer = build_training_model(config, steps_per_epoch, precision=precision)
    load_weights_f16(served_model(trainer), ckpt_dir / checkpoint_file(state, "last"))
    step = int(info["step"])
    try:
        schedule = keras.saving.deserialize_keras_object(info["schedule"])
    except Exception as exc:
        raise TrainingError(f"the compact checkpoint in {ckpt_dir} has an unreadable schedule: {exc}") from exc
    set_schedule(trainer.optimizer, schedule, step)

    def expand(compact_name: str, keras_name: str) -> None:
        model = build_model(config.arch, dtype=policy_name(precision), equalize=config.equalize)
        load_weights_f16(model, ckpt_dir / compact_name)
        save_atomic(model, ckpt_dir / keras_name)

    if state.get("best_epoch"):
        best = f"best-{int(state['best_epoch']):03d}.keras"
        expand(checkpoint_file(state, "best"), best)
        state["best_file"] = best
    for path in ckpt_dir.glob(f"epoch-[0-9][0-9][0-9]{COMPACT_SUFFIX}"):
        expand(path.name, snapshot_name(int(path.name[6:9])))
    del state["compact"]
    state.pop("last_file", None)
    state["step_offset"] = step
    resumed = {"epoch": int(state["epoch"]), "step": step, "written": info.get("written")}
    state.setdefault("compact_resumes", []).append(resumed)
    rate = float(np.asarray(trainer.optimizer.learning_rate))
    message = (
        f"resumed from a compact checkpoint after epoch {state['epoch']}: float16 weights, the optimiser's "
        f"moments start again from zero, the learning-rate schedule goes on at step {step} ({rate:.3g})"
    )
    return trainer, message


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.checkpoint", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compact = commands.add_parser("compact", help="write a compact copy of a run's checkpoint")
    compact.add_argument("run", help="the run folder (its checkpoint/ holds state.json)")
    compact.add_argument("--out", required=True, help="folder for the copy (an older copy there is replaced)")
    compact.add_argument(
        "--snapshots", nargs="?", type=int, const=1, default=None, metavar="FROM",
        help="also copy the run's per-epoch snapshots; with FROM, only those of epoch FROM and later "
        "(the ones an average of the last epochs needs)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        copy = compact_checkpoint(args.run, out=args.out, snapshots=False if args.snapshots is None else args.snapshots)
    except FERError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"compact checkpoint of epoch {copy.epoch} (best epoch {copy.best_epoch}) in {copy.path}: "
        f"{len(copy.files) + 1} files, {copy.bytes / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
