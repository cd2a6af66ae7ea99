"""One background job at a time: a worker thread, a lock-guarded snapshot, cancel, and a life cycle.

The Training page's :class:`app.training_job.TrainingJob` and the Video page's
:class:`app.video.VideoJob` share this pattern: :meth:`BackgroundJob.snapshot` hands out an
immutable copy of the state that is safe to read from any thread (the page polls it), the worker
only changes the state through :meth:`BackgroundJob._update`, and however the work ends (done,
cancelled, a domain error, a crash) the state ends in one of :data:`FINISHED`, :data:`CANCELLED`
or :data:`FAILED` with the time it ended. Nothing here calls ``st.*``.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, TypeVar

from core.errors import FERError

# Job states.
IDLE, RUNNING, FINISHED, CANCELLED, FAILED = "idle", "running", "finished", "cancelled", "failed"

Outcome = dict[str, Any]
"""How a job's work ended: ``state`` (FINISHED, CANCELLED or FAILED) and the snapshot fields to set."""


class JobBusyError(FERError):
    """A job of this kind is already running; wait for it or cancel it."""


@dataclass(frozen=True)
class JobState:
    """What every job's snapshot has; each job's snapshot class adds its own fields."""

    state: str = IDLE
    name: str | None = None
    error: str | None = None
    cancel_requested: bool = False
    started: float | None = None
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.state == RUNNING

    @property
    def elapsed_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started


S = TypeVar("S", bound=JobState)


class BackgroundJob(Generic[S]):
    """Runs one piece of work at a time in a daemon thread; thread-safe.

    Subclasses start work with :meth:`_begin`; the work function gets the run's stop event and
    returns an :data:`Outcome`. A :class:`FERError`, ``ValueError`` or ``OSError`` it raises ends
    the run as FAILED with the error's message, any other exception as FAILED with
    ``"<crash_label> crashed: <type>: <message>"``, so a crash still reaches the page.

    Args:
        idle: the snapshot of a job that has not run (also what :meth:`clear` returns to).
    """

    busy_error: ClassVar[type[JobBusyError]] = JobBusyError
    """What :meth:`_begin` raises while a run is in progress."""
    crash_label: ClassVar[str] = "the job"
    """How a crash message names the work, e.g. ``"training"``."""
    on_cancel: ClassVar[dict[str, Any]] = {}
    """Snapshot fields set when a cancel is requested, beside ``cancel_requested``."""
    on_end: ClassVar[dict[str, Any]] = {}
    """Snapshot fields set when the run ends, unless the outcome sets them."""

    def __init__(self, idle: S) -> None:
        self._idle = idle
        self._lock = threading.Lock()
        self._snapshot: S = idle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> S:
        """The current state (an immutable copy)."""
        with self._lock:
            return self._snapshot

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._snapshot = replace(self._snapshot, **changes)

    def _busy_message(self, running: S) -> str:
        return f"{running.name} is still running; wait for it or cancel it"

    def _begin(
        self, running: S, work: Callable[[threading.Event], Outcome], *, thread_name: str,
        admit: Callable[[], Callable[[], None] | None] | None = None,
    ) -> None:  # fmt: skip
        """Start ``work(stop)`` in a thread, with ``running`` as the snapshot.

        Args:
            running: the snapshot while the work runs (state RUNNING).
            work: the work; it should stop soon after its stop event is set.
            thread_name: the thread's name (for debuggers and logs).
            admit: called under the lock once the job is known to be free; it may raise to refuse
                the run, and returns a callable to run when the run ends however it ends (or ``None``).

        Raises:
            JobBusyError: a run is in progress (:attr:`busy_error`), or whatever ``admit`` raises.
        """
        with self._lock:
            if self._snapshot.state == RUNNING:
                raise self.busy_error(self._busy_message(self._snapshot))
            release = admit() if admit is not None else None
            stop = threading.Event()
            thread = threading.Thread(
                target=self._life, args=(work, stop, release), name=thread_name, daemon=True
            )
            self._stop, self._thread, self._snapshot = stop, thread, running
            try:
                thread.start()
            except BaseException:
                if release is not None:
                    release()
                self._snapshot = self._idle
                raise

    def _life(
        self, work: Callable[[threading.Event], Outcome], stop: threading.Event, release: Callable[[], None] | None
    ) -> None:
        outcome: Outcome = {"state": FAILED, "error": f"{self.crash_label} stopped unexpectedly"}
        try:
            outcome = work(stop)
        except (FERError, ValueError, OSError) as exc:
            outcome = {"state": FAILED, "error": str(exc)}
        except Exception as exc:  # a crash in the thread must still reach the page
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            outcome = {"state": FAILED, "error": f"{self.crash_label} crashed: {detail}"}
        finally:
            # The run's resources are free before the page can see the run as over.
            if release is not None:
                release()
            self._update(**{**self.on_end, **outcome, "finished": time.monotonic()})

    def cancel(self) -> bool:
        """Ask the running work to stop; ``False`` if nothing runs."""
        with self._lock:
            if self._snapshot.state != RUNNING:
                return False
            self._stop.set()
            self._snapshot = replace(self._snapshot, cancel_requested=True, **self.on_cancel)
            return True

    def clear(self) -> None:
        """Forget a finished, failed or cancelled run (back to the idle snapshot)."""
        with self._lock:
            if self._snapshot.state != RUNNING:
                self._snapshot = self._idle

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; ``True`` when no run is left in progress."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot().state != RUNNING
