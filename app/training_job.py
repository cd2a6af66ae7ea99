"""A training run for the app: one at a time per server, in a child process (:class:`app.jobs.ProcessJob`).

The training page keeps one :class:`TrainingJob` per process (in ``st.cache_resource``), so every
browser session sees the same run. The child runs exactly the command line's routines
(:func:`training.tasks.train_model`: :func:`training.train.train`, then the evaluation), at a lower
CPU priority, and TensorFlow is imported there, never in the server. The page only reads
:meth:`TrainingJob.snapshot`, which is safe to call from any thread.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.model_store import read_model_info

# The states ("running" covers loading data, training and evaluating: see ``phase``) and the
# busy error are the shared job pattern's; the page imports them from here.
from app.jobs import CANCELLED, FAILED, FINISHED, IDLE, RUNNING, JobBusyError, JobSlot, JobState, Outcome, ProcessJob

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")


def validate_model_name(name: str, *, models_root: Path) -> str:
    """Check a name for a new model directory under ``models_root`` and return it stripped.

    Raises:
        ValueError: the name is empty, has characters other than letters, digits, ``_ . -``, is
            longer than 48 characters, or a servable model holds it already (an unusable folder of
            that name, e.g. one a killed run left, does not hold it: the new model replaces it).
    """
    cleaned = (name or "").strip()
    if not cleaned:
        raise ValueError("give the model a name, e.g. fast-20-epochs")
    if not MODEL_NAME_RE.match(cleaned) or cleaned in (".", ".."):
        raise ValueError(
            f"model name {cleaned!r} is not allowed: use 1-48 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if read_model_info(Path(models_root) / cleaned).ok:
        raise ValueError(f"a model named {cleaned!r} already exists; choose another name")
    return cleaned


@dataclass(frozen=True)
class Resources:
    """CPU cores and memory this process may use (cgroup limits win over what the host has)."""

    cpus: float | None
    memory_bytes: int | None

    def warning(self) -> str | None:
        """A warning to show before training on a small machine, or ``None``."""
        problems = []
        if self.cpus is not None and self.cpus <= 2:
            problems.append(f"{self.cpus:g} CPU core{'s' if self.cpus != 1 else ''}")
        if self.memory_bytes is not None and self.memory_bytes < 4 * 1024**3:
            problems.append(f"{self.memory_bytes / 1024**3:.1f} GB of memory")
        if not problems:
            return None
        return (
            f"This machine has only {' and '.join(problems)}. Training the full FER2013 set here takes "
            "hours and may run out of memory (Streamlit Community Cloud gives about 1-2.7 GB); "
            "use the 'tiny' architecture, few epochs or a training-face limit here, and train real "
            "models on a bigger machine with `python -m training.train`."
        )


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def detect_resources(*, read: Callable[[str], str | None] = _read) -> Resources:
    """CPU and memory limits from cgroups v2/v1, falling back to the host's counts."""
    cpus: float | None = None
    quota = read("/sys/fs/cgroup/cpu.max")
    if quota and quota.split()[0] != "max":
        parts = quota.split()
        cpus = int(parts[0]) / int(parts[1] if len(parts) > 1 else 100000)
    else:
        v1_quota, v1_period = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if v1_quota and v1_period and int(v1_quota) > 0:
            cpus = int(v1_quota) / int(v1_period)
    try:
        host_cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        host_cpus = os.cpu_count()
    if host_cpus:
        cpus = min(cpus, host_cpus) if cpus else float(host_cpus)
    memory: int | None = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        value = read(path)
        if value and value.isdigit() and int(value) < 1 << 60:
            memory = int(value)
            break
    meminfo = read("/proc/meminfo")
    if meminfo:
        for line in meminfo.splitlines():
            if line.startswith("MemTotal:"):
                host = int(line.split()[1]) * 1024
                memory = min(memory, host) if memory else host
                break
    return Resources(cpus, memory)


@dataclass(frozen=True)
class TrainOutcome:
    """How the child's run ended (:func:`training.tasks.train_model`'s result)."""

    status: str  # completed, early_stopped or cancelled (a graceful stop)
    epochs_run: int
    best_epoch: int | None
    model: str | None  # the published model's name; None when no epoch finished


@dataclass(frozen=True)
class JobSnapshot(JobState):
    """A consistent copy of a training job's state, for rendering."""

    phase: str = ""
    config: Any = None
    event: Any = None
    history: dict[str, list[float]] = field(default_factory=dict)
    result: TrainOutcome | None = None
    evaluation: dict[str, Any] | None = None

    @property
    def fraction(self) -> float:
        if self.state == FINISHED:
            return 1.0
        return float(self.event.fraction) if self.event is not None else 0.0

    @property
    def eta_s(self) -> float | None:
        return None if self.event is None or not self.active else self.event.eta_s


TRAIN_TARGET = "training.tasks:train_model"


class TrainingJob(ProcessJob[JobSnapshot]):
    """Runs one training at a time in a child process; thread-safe.

    Args:
        target: the child's routine (``"module:function"``); tests give a fake one.
        yield_to: while it says ``True`` (visitors' analyses are running) the training waits
            between batches (:class:`app.jobs.ProcessJob`).
        slot: shared with the adaptation job (:mod:`app.adapt_job`): one heavy job at a time.
    """

    crash_label = "training"
    on_cancel = {"phase": "cancelling"}
    on_stop = {"phase": "stopping"}
    on_end = {"phase": ""}

    def __init__(
        self, *, target: str = TRAIN_TARGET, yield_to: Callable[[], bool] | None = None, slot: JobSlot | None = None
    ) -> None:
        super().__init__(JobSnapshot(), yield_to=yield_to, slot=slot)
        self._target = target
        self.runs = 0

    def _busy_message(self, running: JobSnapshot) -> str:
        return f"model {running.name!r} is still training; wait for it or cancel it first"

    def start(
        self,
        *,
        name: str,
        config: Any,
        data: str | Path,
        models_root: Path,
        ferplus_path: Path | None = None,
        evaluate_split: str = "PrivateTest",
        dataset_cache: Path | None = None,
    ) -> None:
        """Start training ``config`` into ``models_root/name`` in a child process.

        Args:
            name: the new model's name (checked with :func:`validate_model_name`).
            config: a :class:`training.train.TrainConfig`.
            data: the dataset's path (the child loads it: :func:`training.data.load_fer2013`).
            models_root: the models folder the model selector lists.
            ferplus_path: FER+ label file when ``config.ferplus`` or a blend is set.
            evaluate_split: split scored after training for ``evaluation.json``.
            dataset_cache: the app's parsed-dataset cache (:func:`training.data.load_fer2013`'s
                ``cache_dir``), so the child reads the dataset in milliseconds; ``None``: it parses it.

        Raises:
            JobBusyError: a run is already in progress.
            ValueError: a bad model name.
        """
        from training.tasks import train_config_args  # noqa: PLC0415 - a dataclass to a dict; no Keras

        root = Path(models_root).resolve()
        name = validate_model_name(name, models_root=root)
        args = {
            "name": name, "models_root": str(root), "config": train_config_args(config),
            "data": str(Path(data).expanduser().resolve()),
            "ferplus_path": str(Path(ferplus_path).expanduser().resolve()) if ferplus_path else None,
            "evaluate_split": evaluate_split, "dataset_cache": str(dataset_cache) if dataset_cache else None,
        }  # fmt: skip
        running = JobSnapshot(state=RUNNING, phase="starting", name=name, config=config, started=time.monotonic())
        self._begin_process(running, target=self._target, args=args, models_root=root, thread_name=f"training-{name}")
        self.runs += 1

    def stop_early(self) -> bool:
        """Stop after the current batch and keep the best epoch so far as the model."""
        return self.request_stop()

    def _on_status(self, status: dict[str, Any]) -> None:
        from training.train import ProgressEvent  # noqa: PLC0415 - a dataclass; no Keras

        event = status.get("event")
        with self._lock:
            if self._snapshot.state != RUNNING:
                return
            changes: dict[str, Any] = {}
            if not self._snapshot.cancel_requested:
                changes["phase"] = str(status.get("phase") or self._snapshot.phase)
            if isinstance(event, dict):
                parsed = ProgressEvent(**event)
                changes["event"] = parsed
                changes["history"] = dict(parsed.history) or self._snapshot.history
            self._snapshot = replace(self._snapshot, **changes)

    def _outcome(self, result: dict[str, Any]) -> Outcome:
        outcome = TrainOutcome(
            status=str(result.get("status", "completed")), epochs_run=int(result.get("epochs_run") or 0),
            best_epoch=result.get("best_epoch"), model=result.get("model"),
        )  # fmt: skip
        state = CANCELLED if outcome.status == "cancelled" else FINISHED
        return {"state": state, "result": outcome, "evaluation": result.get("evaluation"),
                "history": dict(result.get("history") or {})}  # fmt: skip
