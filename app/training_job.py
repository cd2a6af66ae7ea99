"""A background training run for the app: one run at a time per process (:mod:`app.jobs`' pattern).

The training page keeps one :class:`TrainingJob` per process (in ``st.cache_resource``), so every
browser session sees the same run. The thread runs exactly the command line's routines
(:func:`training.train.train`, then :func:`training.evaluate.evaluate`); the page only reads
:meth:`TrainingJob.snapshot`, which is safe to call from any thread.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# The states ("running" covers loading data, training and evaluating: see ``phase``) and the
# busy error are the shared job pattern's; the page imports them from here.
from app.jobs import CANCELLED, FAILED, FINISHED, IDLE, RUNNING, BackgroundJob, JobBusyError, JobState, Outcome

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")


def validate_model_name(name: str, *, models_root: Path) -> str:
    """Check a name for a new model directory under ``models_root`` and return it stripped.

    Raises:
        ValueError: the name is empty, has characters other than letters, digits, ``_ . -``, is
            longer than 48 characters, or a model of that name exists already.
    """
    cleaned = (name or "").strip()
    if not cleaned:
        raise ValueError("give the model a name, e.g. fast-20-epochs")
    if not MODEL_NAME_RE.match(cleaned) or cleaned in (".", ".."):
        raise ValueError(
            f"model name {cleaned!r} is not allowed: use 1-48 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if (Path(models_root) / cleaned).exists():
        raise ValueError(f"a model named {cleaned!r} already exists in {models_root}; choose another name")
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
class JobSnapshot(JobState):
    """A consistent copy of a training job's state, for rendering."""

    phase: str = ""
    config: Any = None
    event: Any = None
    history: dict[str, list[float]] = field(default_factory=dict)
    result: Any = None
    evaluation: dict[str, Any] | None = None

    @property
    def fraction(self) -> float:
        if self.state == FINISHED:
            return 1.0
        return float(self.event.fraction) if self.event is not None else 0.0

    @property
    def eta_s(self) -> float | None:
        return None if self.event is None or not self.active else self.event.eta_s


class TrainingJob(BackgroundJob[JobSnapshot]):
    """Runs one training at a time in a background thread; thread-safe.

    The routines are injectable so tests can run the job logic without Keras.
    """

    crash_label = "training"
    on_cancel = {"phase": "cancelling"}
    on_end = {"phase": ""}

    def __init__(
        self,
        *,
        train_fn: Callable[..., Any] | None = None,
        evaluate_fn: Callable[..., Any] | None = None,
        load_data_fn: Callable[[Any], Any] | None = None,
        choose_tta_fn: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(JobSnapshot())
        self._train_fn = train_fn
        self._evaluate_fn = evaluate_fn
        self._load_data_fn = load_data_fn
        self._choose_tta_fn = choose_tta_fn
        self.runs = 0

    def _busy_message(self, running: JobSnapshot) -> str:
        return f"model {running.name!r} is still training; wait for it or cancel it first"

    def start(
        self,
        *,
        name: str,
        config: Any,
        data: Any,
        models_root: Path,
        ferplus_path: Path | None = None,
        evaluate_split: str = "PrivateTest",
    ) -> None:
        """Start training ``config`` into ``models_root/name`` in a background thread.

        Args:
            name: the new model's name (checked with :func:`validate_model_name`).
            config: a :class:`training.train.TrainConfig`.
            data: a dataset path (or loaded ``FERData``) for :func:`training.data.load_fer2013`.
            models_root: the models folder the model selector lists.
            ferplus_path: FER+ label file when ``config.ferplus`` is set.
            evaluate_split: split scored after training for ``evaluation.json``.

        Raises:
            JobBusyError: a run is already in progress.
            ValueError: a bad model name.
        """
        name = validate_model_name(name, models_root=Path(models_root))
        out_dir = Path(models_root) / name

        def work(stop: threading.Event) -> Outcome:
            return self._run(
                config=config, data=data, out_dir=out_dir, ferplus_path=ferplus_path,
                evaluate_split=evaluate_split, stop=stop,
            )  # fmt: skip

        running = JobSnapshot(state=RUNNING, phase="loading data", name=name, config=config, started=time.monotonic())
        self._begin(running, work, thread_name=f"training-{name}")
        self.runs += 1

    def _on_progress(self, event: Any) -> None:
        with self._lock:
            if self._snapshot.state != RUNNING:
                return
            phase = self._snapshot.phase if self._snapshot.cancel_requested else "training"
            if getattr(event, "kind", None) in ("preparing", "finishing"):
                phase = str(event.message or event.kind)
            self._snapshot = replace(
                self._snapshot, event=event, history=dict(event.history) or self._snapshot.history, phase=phase
            )

    def _run(
        self, *, config: Any, data: Any, out_dir: Path, ferplus_path: Path | None, evaluate_split: str,
        stop: threading.Event,
    ) -> Outcome:  # fmt: skip
        train_fn, evaluate_fn, load_data_fn, choose_tta_fn = self._routines()
        if not hasattr(data, "splits"):
            data = load_data_fn(data)
        if stop.is_set():
            return {"state": CANCELLED}
        self._update(phase="training")
        result = train_fn(
            config, data=data, out_dir=out_dir, ferplus_path=ferplus_path,
            on_progress=self._on_progress, stop_event=stop,
        )  # fmt: skip
        evaluation = None
        splits = getattr(data, "splits", {})
        if result.model_dir is not None and result.status != "cancelled" and "PublicTest" in splits:
            # The upload page starts from the test-time augmentation recorded here.
            self._update(phase="choosing test-time augmentation on PublicTest")
            choose_tta_fn(result.model_dir, data=data)
        if result.model_dir is not None and evaluate_split in splits:
            self._update(phase=f"evaluating on {evaluate_split}")
            evaluation = evaluate_fn(result.model_dir, data=data, split=evaluate_split)
        state = CANCELLED if result.status == "cancelled" else FINISHED
        return {"state": state, "result": result, "evaluation": evaluation, "history": dict(result.history)}

    def _routines(self) -> tuple[Callable[..., Any], Callable[..., Any], Callable[[Any], Any], Callable[..., Any]]:
        # Imported here: the training modules (and Keras through them) load only when a run starts.
        from training.data import load_fer2013  # noqa: PLC0415
        from training.evaluate import choose_tta, evaluate  # noqa: PLC0415
        from training.train import train  # noqa: PLC0415

        return (
            self._train_fn or train, self._evaluate_fn or evaluate, self._load_data_fn or load_fer2013,
            self._choose_tta_fn or choose_tta,
        )
