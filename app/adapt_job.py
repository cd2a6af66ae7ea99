"""Adapting a model to the owner's labelled photos, for the app: in a child process, one heavy job at a time.

The Training page keeps one :class:`AdaptJob` per process (``st.cache_resource``), sharing a
:class:`app.jobs.JobSlot` with the training job so that a training and an adaptation never run
together. The child runs the command line's routine (:func:`training.tasks.adapt_model`, i.e.
:func:`training.adapt.adapt`): the faces are found with the base model's photo default, the model
is fine-tuned in the job's folder and moved into the models folder only when complete, so a
cancelled, failed or killed run leaves nothing there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.jobs import CANCELLED, FINISHED, RUNNING, JobSlot, JobState, Outcome, ProcessJob
from app.training_job import validate_model_name

ADAPT_TARGET = "training.tasks:adapt_model"
FACES_SHARE = 0.15
"""The part of the progress bar given to finding the faces (the rest goes to the epochs)."""


@dataclass(frozen=True)
class AdaptSnapshot(JobState):
    """A consistent copy of an adaptation's state, for rendering."""

    phase: str = ""
    base: str = ""
    epochs: int = 0
    faces: dict[str, int] = field(default_factory=dict)  # {"done", "total"} while faces are found
    history: tuple[dict[str, Any], ...] = ()  # one row per epoch (training.adapt.fine_tune)
    lines: tuple[str, ...] = ()  # the command line's progress lines
    report: dict[str, Any] | None = None  # training.adapt.adapt's report, once published
    model: str | None = None  # the published model's name

    @property
    def fraction(self) -> float:
        if self.state == FINISHED:
            return 1.0
        if self.history and self.epochs:
            return FACES_SHARE + (1 - FACES_SHARE) * min(1.0, len(self.history) / self.epochs)
        if self.faces.get("total"):
            return FACES_SHARE * self.faces["done"] / self.faces["total"]
        return 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left: the epochs left at the mean epoch's pace (``None`` before the first epoch)."""
        if not self.active or not self.history or not self.epochs:
            return None
        mean = sum(float(row.get("seconds") or 0) for row in self.history) / len(self.history)
        return mean * max(0, self.epochs - len(self.history))


class AdaptJob(ProcessJob[AdaptSnapshot]):
    """Runs one adaptation at a time in a child process; thread-safe.

    Args:
        target: the child's routine (``"module:function"``); tests give a fake one.
        yield_to: while it says ``True`` (visitors' analyses run) the child is held (:class:`app.jobs.ProcessJob`).
        slot: shared with the training job: one heavy job at a time.
    """

    crash_label = "adapting"
    on_cancel = {"phase": "cancelling"}
    on_stop = {"phase": "stopping after this epoch"}
    on_end = {"phase": ""}

    def __init__(
        self, *, target: str = ADAPT_TARGET, yield_to: Callable[[], bool] | None = None, slot: JobSlot | None = None
    ) -> None:
        super().__init__(AdaptSnapshot(), yield_to=yield_to, slot=slot)
        self._target = target

    def _busy_message(self, running: AdaptSnapshot) -> str:
        return f"model {running.name!r} is being adapted; wait for it or cancel it first"

    def start(
        self,
        *,
        name: str,
        base: Path,
        models_root: Path,
        photos: Path | None = None,
        upload: bytes | None = None,
        source: str | None = None,
        epochs: int = 15,
        learning_rate: float = 1e-4,
        replay: int = 0,
        data: Path | None = None,
        person_from: str | None = None,
        holdout: float = 0.25,
    ) -> None:
        """Adapt ``base`` to the photos into ``models_root/name`` in a child process.

        Args:
            photos: a folder or ZIP on the server (the owner's), or
            upload: an uploaded ZIP's bytes, written into the job's folder for the child.
            source: how the new model's card names the photos (e.g. the upload's file name).
            data: FER2013, for ``replay`` and the PublicTest figures (``None``: neither).

        Raises:
            JobBusyError: an adaptation or a training is running.
            ValueError: a bad model name, or neither (or both) of ``photos`` and ``upload``.
        """
        from training.tasks import UPLOADED_PHOTOS  # noqa: PLC0415 - constants; no Keras

        if (photos is None) == (upload is None):
            raise ValueError("give the photos: a ZIP to upload or a folder on the server")
        root = Path(models_root).resolve()
        name = validate_model_name(name, models_root=root)
        args = {
            "name": name, "models_root": str(root), "base": str(Path(base).resolve()),
            "photos": str(Path(photos).expanduser().resolve()) if photos is not None else None,
            "source": source, "epochs": int(epochs), "learning_rate": float(learning_rate), "replay": int(replay),
            "data": str(Path(data).expanduser().resolve()) if data is not None else None,
            "person_from": person_from or None, "holdout": float(holdout),
        }  # fmt: skip

        def prepare(folder: Path) -> None:
            if upload is not None:
                (folder / UPLOADED_PHOTOS).write_bytes(upload)

        running = AdaptSnapshot(
            state=RUNNING, phase="starting", name=name, base=Path(base).name, epochs=int(epochs), started=time.monotonic()
        )
        self._begin_process(
            running, target=self._target, args=args, models_root=root, thread_name=f"adapt-{name}", prepare=prepare
        )

    def stop_early(self) -> bool:
        """Stop after the current epoch and keep the best epoch so far as the model."""
        return self.request_stop()

    def _on_status(self, status: dict[str, Any]) -> None:
        with self._lock:
            if self._snapshot.state != RUNNING:
                return
            changes: dict[str, Any] = {}
            if not self._snapshot.cancel_requested and status.get("phase"):
                changes["phase"] = str(status["phase"])
            if isinstance(status.get("faces"), dict):
                changes["faces"] = dict(status["faces"])
            if isinstance(status.get("history"), list):
                changes["history"] = tuple(status["history"])
            if isinstance(status.get("lines"), list):
                changes["lines"] = tuple(str(line) for line in status["lines"])
            self._snapshot = replace(self._snapshot, **changes)

    def _outcome(self, result: dict[str, Any]) -> Outcome:
        history = tuple(result.get("history") or ())
        stopped = len(history) < int(result.get("epochs") or 0)
        return {
            "state": CANCELLED if stopped else FINISHED, "report": result, "model": result.get("model"),
            "history": history,
        }  # fmt: skip
