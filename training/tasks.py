"""The app's heavy jobs, as :mod:`training.worker` runs them in a process of their own.

Each is ``function(args, job) -> dict`` over the command line's own routines: :func:`train_model`
is :func:`training.train.train`, then :func:`training.evaluate.choose_tta` and
:func:`training.evaluate.evaluate`, exactly what ``python -m training.train`` and
``python -m training.evaluate`` do; :func:`augment_faces` is the Dataset browser's preview of
:func:`training.augment.augment_preview`; :func:`adapt_model` is ``python -m training.adapt``
(:func:`training.adapt.adapt`). All import Keras, which is why they never run in the server's process.

A model is trained into the job's folder and moved into the models folder only when it is
complete (:func:`core.model_store.publish_model_dir`): a run that fails, is cancelled or is killed
leaves nothing in ``models/``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from training.worker import Job

STAGING_DIR = "model"
"""The model being trained, inside the job's folder."""


def train_config_args(config: Any) -> dict[str, Any]:
    """A :class:`training.train.TrainConfig` as job arguments (every field as it is: paths stay absolute)."""
    return asdict(config)


def _config(values: dict[str, Any]) -> Any:
    from training.train import TrainConfig  # noqa: PLC0415

    return TrainConfig.from_dict(values)


def train_model(args: dict[str, Any], job: Job) -> dict[str, Any]:
    """Train, choose the TTA on PublicTest, evaluate, and publish ``models_root/name``.

    Args (a dict): ``name``, ``models_root``, ``config`` (:func:`train_config_args`), ``data`` (the
    dataset's path), ``ferplus_path`` (or ``None``), ``evaluate_split``, ``dataset_cache`` (the
    parsed-dataset cache folder, or ``None``).

    Returns:
        ``status``, ``epochs_run``, ``best_epoch``, ``history``, ``model`` (the published name, or
        ``None`` when no epoch finished) and ``evaluation`` (the report, or ``None``).
    """
    from core.model_store import publish_model_dir  # noqa: PLC0415
    from training.data import load_fer2013  # noqa: PLC0415
    from training.evaluate import choose_tta, evaluate  # noqa: PLC0415
    from training.train import train  # noqa: PLC0415

    config = _config(args["config"])
    split = str(args.get("evaluate_split") or "PrivateTest")
    job.report(phase="loading data")
    data = load_fer2013(args["data"], cache_dir=args.get("dataset_cache"))
    if job.stop.is_set():
        return {"status": "cancelled", "epochs_run": 0, "best_epoch": None, "history": {}, "model": None, "evaluation": None}
    job.report(phase="training")

    def on_progress(event: Any) -> None:
        phase = str(event.message or event.kind) if event.kind in ("preparing", "finishing") else "training"
        job.report(throttle=event.kind == "batch", phase=phase, event=asdict(event))
        if event.kind == "batch":  # between two batches: the app's visitors go first
            job.wait_while_paused()

    staging = job.dir / STAGING_DIR
    result = train(
        config, data=data, out_dir=staging, ferplus_path=args.get("ferplus_path"), on_progress=on_progress,
        stop_event=job.stop,
    )  # fmt: skip
    evaluation = None
    if result.model_dir is not None and result.status != "cancelled" and "PublicTest" in data.splits:
        # The upload page starts from the test-time augmentation recorded here.
        job.report(phase="choosing test-time augmentation on PublicTest")
        choose_tta(staging, data=data)
    if result.model_dir is not None and split in data.splits:
        job.report(phase=f"evaluating on {split}")
        evaluation = evaluate(staging, data=data, split=split)
    model = None
    if result.model_dir is not None:
        job.report(phase="saving the model")
        model = publish_model_dir(staging, Path(args["models_root"]) / str(args["name"])).name
    return {
        "status": result.status, "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
        "history": result.history, "model": model, "evaluation": evaluation,
    }  # fmt: skip


def augment_faces(args: dict[str, Any], job: Job) -> dict[str, Any]:
    """The training augmentation applied to ``faces.npy`` of the job's folder, into ``variants.npy``.

    Args (a dict): ``config`` (an :class:`training.augment.AugmentConfig` as a dict), ``copies``, ``seed``.
    """
    from training.augment import AugmentConfig, augment_preview  # noqa: PLC0415

    faces = np.load(job.dir / "faces.npy")
    variants = augment_preview(
        faces, AugmentConfig(**args["config"]), seed=int(args.get("seed", 0)), copies=int(args.get("copies", 8))
    )
    np.save(job.dir / "variants.npy", variants)
    return {"shape": list(variants.shape)}


ADAPT_STAGING_DIR = "adapted"
"""The adapted model being written, inside the job's folder."""
UPLOADED_PHOTOS = "photos.zip"
"""An uploaded ZIP of photos, written into the job's folder before the child starts."""


def adapt_model(args: dict[str, Any], job: Job) -> dict[str, Any]:
    """Adapt a model to labelled photos (:func:`training.adapt.adapt`) and publish ``models_root/name``.

    Args (a dict): ``name``, ``models_root``, ``photos`` (a folder or ZIP; ``None``: the job folder's
    :data:`UPLOADED_PHOTOS`), ``base`` (a model folder), ``epochs``, ``learning_rate``, ``replay``,
    ``data`` (FER2013 for the replay and PublicTest, or ``None``), ``person_from``, ``holdout``, ``seed``,
    ``source`` (how the model's card names the photos, e.g. the uploaded file's name).

    Returns:
        The adapt report (:func:`training.adapt.adapt`) with ``model``: the published name.
    """
    from core.model_store import publish_model_dir  # noqa: PLC0415
    from training.adapt import DEFAULT_EPOCHS, DEFAULT_HOLDOUT, DEFAULT_LR, adapt  # noqa: PLC0415

    name = str(args["name"])
    photos = args.get("photos") or job.dir / UPLOADED_PHOTOS
    staging = job.dir / ADAPT_STAGING_DIR / name
    log: list[str] = []
    history: list[dict[str, Any]] = []

    def line(text: str) -> None:
        log.append(text)
        job.report(lines=log[-200:])

    def event(update: dict[str, Any]) -> None:
        kind = update.get("kind")
        if kind == "faces":
            job.report(throttle=update["done"] != update["total"], phase="finding faces", faces=update)
        elif kind == "epoch":
            history.append(update)
            job.report(phase="adapting", history=history)
            job.wait_while_paused()  # between two epochs: the app's visitors go first
        else:
            job.report(phase=str(update.get("phase", "")))

    report = adapt(
        photos, staging, base=args.get("base"), epochs=int(args.get("epochs") or DEFAULT_EPOCHS),
        learning_rate=float(args.get("learning_rate") or DEFAULT_LR), replay=int(args.get("replay") or 0),
        data=args.get("data"), person_from=args.get("person_from") or None,
        holdout=float(args.get("holdout") or DEFAULT_HOLDOUT), seed=int(args.get("seed") or 0),
        on_progress=line, on_event=event, should_stop=job.stop.is_set, source=args.get("source"),
    )  # fmt: skip
    job.report(phase="saving the model")
    model = publish_model_dir(staging, Path(args["models_root"]) / name).name
    report["out"] = model
    return {**report, "model": model}
