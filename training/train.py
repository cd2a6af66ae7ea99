"""Train an emotion model on FER2013: the routine shared by the command line and the training page.

    python -m training.train --data data/fer2013.csv.gz --arch fast --epochs 30 --out models/fast

Training fits on ``Training``, validates on ``PublicTest`` every epoch (early stopping and the choice
of the best epoch), and never looks at ``PrivateTest``. A checkpoint is written after every epoch
(atomically), so ``--resume`` continues an interrupted run where it stopped. After the last epoch
the best epoch's batch-norm statistics are measured again on clean faces (:mod:`training.batchnorm`),
kept when PublicTest improves.

This module is the loop and its command line; the rest of a run lives beside it, each importing
only those above it in this list: :mod:`training.provenance` (what metadata records),
:mod:`training.config` (the recipe, progress events, the result), :mod:`training.schedules`
(learning rate and optimiser), :mod:`training.trainer` (the model that is trained),
:mod:`training.checkpoint_files` (the checkpoint folder's files), :mod:`training.callbacks` (the
per-epoch checkpoint and progress), :mod:`training.checkpoint` (compact copies). The names other
code uses are importable from here too.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DatasetError, FERError
from core.labels import FER2013_TERMS, NUM_CLASSES
from core.model_store import save_model_dir, write_json_atomic
from core.paths import dataset_cache_dir
from training.architectures import list_architectures
from training.augment import AugmentConfig, training_batches
from training.batchnorm import recalibrate_if_better
from training.callbacks import monitor
from training.checkpoint import install_checkpoint, restore_compact
from training.checkpoint_files import CHECKPOINT_DIR, STATE_FILE, checkpoint_file
from training.config import CLASS_WEIGHTINGS, OPTIMIZERS, ProgressEvent, TrainConfig, TrainingError, TrainResult
from training.data import FERData, blend_ferplus, load_fer2013, with_ferplus
from training.distill import blend_targets, cached_teacher_probabilities, soften
from training.jitter import JITTER_FILES
from training.precision import PRECISIONS, resolve_precision
from training.progress import printer as progress_printer
from training.provenance import hardware, now, portable_path
from training.schedules import replan_schedule, restart_schedule
from training.trainer import build_training_model, initialise_from, register_training_objects

__all__ = [
    # the loop and its command line
    "build_parser", "class_weights", "main", "train",
    # defined beside it, imported from here by the app, the tasks and the tests
    "CHECKPOINT_DIR", "ProgressEvent", "TrainConfig", "TrainResult", "TrainingError", "portable_path",
]  # fmt: skip


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
    state_path = ckpt_dir / STATE_FILE
    if resume_from is not None:
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
            trainer, message = restore_compact(ckpt_dir, state, saved, steps)
            preparing(int(state["epoch"]), message)
        else:
            try:
                trainer = keras.saving.load_model(ckpt_dir / checkpoint_file(state, "last"))
            except Exception as exc:
                raise TrainingError(
                    f"checkpoint {ckpt_dir / checkpoint_file(state, 'last')} is unusable: {exc}"
                ) from exc
        offset = int(state.get("step_offset", 0))
        if restart_lr is not None:
            restart_schedule(trainer.optimizer, config, steps, restart_lr, offset)
            state.setdefault("restarts", []).append({"epoch": int(state["epoch"]), "learning_rate": restart_lr})
        elif saved.epochs != config.epochs:
            replan_schedule(trainer.optimizer, config, steps, offset)
        state["config"] = config.to_dict()
        keras.utils.set_random_seed(config.seed + state["epoch"])
    else:
        if restart_lr is not None:
            raise TrainingError("restart_lr continues a finished run: it needs resume and a checkpoint")
        served, trainer = build_training_model(config, steps)
        state = {
            "config": config.to_dict(), "epoch": 0, "best_epoch": 0, "best_val_accuracy": None,
            "history": {}, "seconds": 0.0, "data_sha256": data.sha256, "started": now(),
            "precision": resolve_precision(config.precision),
        }
        if config.init:
            state["init"] = initialise_from(served, config)
    if config.distill_weight > 0:
        preparing(int(state["epoch"]), f"teacher {Path(config.teacher).name} classifies the Training faces")
        teacher, facts = cached_teacher_probabilities(config.teacher, x[..., 0], ckpt_dir)
        if facts is not None:
            state["teacher"] = facts
        y = blend_targets(y, soften(teacher, config.distill_temperature), weight=config.distill_weight)
    initial_epoch = int(state["epoch"])
    preparing(initial_epoch, f"{len(x):,} Training faces, {steps} batches of {config.batch_size} an epoch; "
                             "the first batch also builds the graph")  # fmt: skip
    callback = monitor(
        config=config, ckpt_dir=ckpt_dir, state=state, steps_per_epoch=steps,
        on_progress=on_progress, stop_event=stop_event, snapshots=snapshots, write_state=write_json_atomic,
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
                    callbacks=[callback], verbose=verbose,
                )
            else:
                trainer.fit(
                    x, y, sample_weight=weights, batch_size=config.batch_size, epochs=config.epochs,
                    initial_epoch=initial_epoch, validation_data=(xv, yv), callbacks=[callback],
                    shuffle=True, verbose=verbose,
                )
        except OSError as exc:  # a checkpoint could not be written (disk full, folder gone)
            raise TrainingError(
                f"cannot write the checkpoint in {ckpt_dir}: {exc.strerror or exc}; free some space, then rerun "
                f"with --resume to continue from epoch {int(state['epoch']) + 1}"
            ) from exc
    status = "cancelled" if callback.cancelled else "early_stopped" if callback.early_stopped else "completed"
    model_dir = None
    batchnorm = None
    if state["best_epoch"]:
        register_training_objects()
        best = keras.saving.load_model(ckpt_dir / checkpoint_file(state, "best"), compile=False)
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
            "hardware": hardware(),
            "history": state["history"],
            "created": now(),
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
    report = json.loads(JITTER_FILES[path].read_text())
    keys = ("detector", "faces", "refound", "seed", "summary", "model")
    return {"path": path, **{key: report.get(key) for key in keys}}


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
        # Parsed once into the cache folder (core.paths.dataset_cache_dir): the next run starts in milliseconds.
        data = load_fer2013(args.data, cache_dir=dataset_cache_dir())
        result = train(
            config, data=data, out_dir=args.out, resume=args.resume, ferplus_path=args.ferplus,
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
