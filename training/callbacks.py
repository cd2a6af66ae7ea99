"""The Keras callback of a run: progress events, a checkpoint after every epoch, cancel and early stopping.

After every epoch the callback writes the run's checkpoint (:mod:`training.checkpoint_files`): the
best and last models under new names, then the state that names them, then the stale files go.
Keras is imported only when :func:`monitor` is called.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training.checkpoint_files import STATE_FILE, remove_stale_checkpoints, save_atomic, snapshot_name
from training.config import ProgressEvent, TrainConfig
from training.trainer import served_model


def monitor(
    *,
    config: TrainConfig,
    ckpt_dir: Path,
    state: dict[str, Any],
    steps_per_epoch: int,
    on_progress: Callable[[ProgressEvent], None] | None,
    stop_event: threading.Event | None,
    write_state: Callable[[Path, dict[str, Any]], None],
    snapshots: bool = False,
) -> Any:
    """The callback for one ``fit`` of a run: it reads and updates ``state`` (the run's checkpoint state).

    Args:
        config: the run's recipe (its epochs and patience are read here).
        ckpt_dir: the run's ``checkpoint/`` folder.
        state: the run's state, updated in place after every epoch and written with ``write_state``.
        steps_per_epoch: batches an epoch.
        on_progress: called with a :class:`ProgressEvent` after every batch and epoch.
        stop_event: once set, the run stops after the current batch (``cancelled``; the part-epoch
            is not checkpointed).
        write_state: writes ``state`` as JSON to a path atomically (the loop passes its
            :func:`core.model_store.write_json_atomic`).
        snapshots: also keep the served model of every epoch (:func:`snapshot_name`).

    Returns:
        A ``keras.callbacks.Callback`` whose ``cancelled`` and ``early_stopped`` say how ``fit`` ended.
    """
    import keras  # noqa: PLC0415

    class Monitor(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.config = config
            self.snapshots = snapshots
            self.ckpt_dir = ckpt_dir
            self.state = state
            self.steps = steps_per_epoch
            self.on_progress = on_progress
            self.stop_event = stop_event
            self.write_state = write_state
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
                save_atomic(served_model(self.model), self.ckpt_dir / self.state["best_file"])
            if self.snapshots:
                save_atomic(served_model(self.model), self.ckpt_dir / snapshot_name(epoch + 1))
            self.state["last_file"] = f"last-{epoch + 1:03d}.keras"
            save_atomic(self.model, self.ckpt_dir / self.state["last_file"])
            self.state["epoch"] = epoch + 1
            self.state["seconds"] = self.state.get("seconds", 0.0) + (time.monotonic() - self.epoch_t0)
            self.write_state(self.ckpt_dir / STATE_FILE, self.state)
            remove_stale_checkpoints(self.ckpt_dir, self.state)
            restarts = self.state.get("restarts") or [{"epoch": 0}]
            since = max(self.state["best_epoch"], restarts[-1]["epoch"])
            if epoch + 1 - since >= self.config.patience:
                self.early_stopped = True
                self.model.stop_training = True
            self._emit("epoch", self.steps, logs)

    return Monitor()
