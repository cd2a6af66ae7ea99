"""Job targets for the child-process tests (:class:`app.jobs.ProcessJob` runs them through
:mod:`training.worker`): tiny, without Keras, controlled through files the test writes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from training.worker import Job


def _wait_for(path: Path, job: Job, seconds: float) -> bool:
    """Wait until ``path`` exists (``True``) or the job is asked to stop (``False``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if job.stop.is_set():
            return False
        time.sleep(0.05)
    return False


def sleeper(args: dict[str, Any], job: Job) -> dict[str, Any]:
    """Writes a file into its folder, says its pid, then runs until stopped or released."""
    (job.dir / "partial.bin").write_bytes(b"half a model")
    Path(args["pid_file"]).write_text(str(os.getpid()))
    job.report(phase="working", step=1)
    released = _wait_for(Path(args["release"]), job, float(args.get("seconds", 60)))
    return {"released": released, "stopped": job.stop.is_set(), "nice": os.nice(0)}


def fails(args: dict[str, Any], job: Job) -> dict[str, Any]:
    raise ValueError(args.get("message", "bad input"))


def dies(args: dict[str, Any], job: Job) -> dict[str, Any]:
    print("about to die", flush=True)
    os._exit(9)


def echo(args: dict[str, Any], job: Job) -> dict[str, Any]:
    (job.dir / "out.txt").write_text((job.dir / "in.txt").read_text().upper())
    return {"args": args}


def fake_train(args: dict[str, Any], job: Job) -> dict[str, Any]:
    """What :func:`training.tasks.train_model` reports and returns, without training anything."""
    history = {"loss": [1.9], "val_loss": [1.8], "accuracy": [0.3], "val_accuracy": [0.35]}
    event = {"kind": "batch", "epoch": 1, "epochs": 3, "batch": 2, "batches": 4, "logs": {"loss": 1.7, "accuracy": 0.4},
             "elapsed_s": 10.0, "eta_s": 75.0, "history": history, "message": "", "rate": 2.5}  # fmt: skip
    job.report(phase="training", event=event)
    control = Path(args["models_root"]) / f"{args['name']}.release"
    released = _wait_for(control, job, 60)
    status = "completed" if released else "cancelled"
    return {"status": status, "epochs_run": 1, "best_epoch": 1, "history": history, "model": None, "evaluation": None}


def counter(args: dict[str, Any], job: Job) -> dict[str, Any]:
    """Counts steps into ``count`` (a file), pausing between steps when asked, until stopped."""
    count, paused = 0, 0.0
    while not job.stop.is_set():
        paused += job.wait_while_paused(poll_s=0.01)
        count += 1
        Path(args["count"]).write_text(str(count))
        time.sleep(0.01)
    return {"count": count, "paused_s": paused}


def fake_adapt(args: dict[str, Any], job: Job) -> dict[str, Any]:
    """What :func:`training.tasks.adapt_model` reports and returns, without Keras: faces, two epochs,
    then waits for ``<name>.release`` beside the models (or a stop) and writes a half model meanwhile."""
    job.report(phase="finding faces", faces={"done": 5, "total": 10})
    rows = [{"epoch": e, "loss": 1.0, "train_accuracy": 0.5, "held_out_accuracy": 0.4 + e / 10, "seconds": 4.0,
             "best": True, "epochs": args["epochs"]} for e in (1, 2)]  # fmt: skip
    job.report(phase="adapting", history=rows, lines=["epoch 1 of 4", "epoch 2 of 4"])
    (job.dir / "adapted").mkdir()
    (job.dir / "adapted" / "half.keras").write_bytes(b"half a model")
    if args.get("photos") is None:
        Path(args["models_root"], "uploaded.txt").write_bytes((job.dir / "photos.zip").read_bytes())
    released = _wait_for(Path(args["models_root"]) / f"{args['name']}.release", job, 60)
    history = rows if (released and not job.stop.is_set()) else rows[:1]
    return {"model": args["name"], "history": history, "epochs": 2, "held_out": {"accuracy_after": 0.6}}
