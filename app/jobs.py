"""One background job at a time: a worker thread, a lock-guarded snapshot, cancel, and a life cycle.

The Training page's :class:`app.training_job.TrainingJob` and the Video page's
:class:`app.video.VideoJob` share this pattern: :meth:`BackgroundJob.snapshot` hands out an
immutable copy of the state that is safe to read from any thread (the page polls it), the worker
only changes the state through :meth:`BackgroundJob._update`, and however the work ends (done,
cancelled, a domain error, a crash) the state ends in one of :data:`FINISHED`, :data:`CANCELLED`
or :data:`FAILED` with the time it ended. Nothing here calls ``st.*``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from core.errors import FERError

# Job states.
IDLE, RUNNING, FINISHED, CANCELLED, FAILED = "idle", "running", "finished", "cancelled", "failed"

Outcome = dict[str, Any]
"""How a job's work ended: ``state`` (FINISHED, CANCELLED or FAILED) and the snapshot fields to set."""


class JobBusyError(FERError):
    """A job of this kind is already running; wait for it or cancel it."""


class JobError(FERError):
    """A job run in a child process failed (the message says how)."""


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
    on_stop: ClassVar[dict[str, Any]] = {}
    """Snapshot fields set when a graceful stop is requested (:meth:`ProcessJob.request_stop`)."""

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


# --- Heavy jobs in a child process ------------------------------------------------------------

JOBS_DIR = ".jobs"
"""The job folders, under the models folder (hidden from the model list; same file system, so a
finished model is moved into place by a rename)."""
JOB_NICE = 19
"""How much lower the child's CPU priority is than the server's (``nice``, the lowest): a training
takes only the CPU time the server leaves (at nice 19 it weighs 15 against the server's 1024)."""
KILL_GRACE_S = 3.0
"""How long a cancelled child gets to end after ``SIGTERM`` before it is killed."""
POLL_S = 0.1
"""How often the job's thread reads the child's status, checks for a cancel and whether to pause the child."""
_REPO = Path(__file__).resolve().parent.parent
_OWN_PROCESS_GROUP: dict[str, Any] = {"process_group": 0} if hasattr(os, "setpgid") else {}


def jobs_root(models_root: Path) -> Path:
    """Where ``models_root``'s job folders live."""
    return Path(models_root) / JOBS_DIR


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def sweep_stale_jobs(models_root: Path) -> list[str]:
    """Remove the job folders whose server is gone (a restart mid-run); their children are ended too.

    A child ends itself within a second of its server's death (:mod:`training.worker`); this is the
    backstop for a child killed with its server. Returns the removed folders' names.
    """
    from training.worker import SPEC_FILE, read_json  # noqa: PLC0415

    root = jobs_root(models_root)
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for folder in sorted(root.iterdir()):
        spec = read_json(folder / SPEC_FILE) or {}
        parent, child = spec.get("parent_pid"), spec.get("child_pid")
        if isinstance(parent, int) and _alive(parent) and parent != os.getpid():
            continue  # another live server's job
        if isinstance(parent, int) and parent == os.getpid():
            continue  # ours: its thread removes it
        if isinstance(child, int) and _alive(child):
            _end_process_group(child, grace_s=0.5)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def _end_process_group(pid: int, *, grace_s: float) -> None:
    """``SIGTERM`` the child's process group, then ``SIGKILL`` after ``grace_s``."""
    kill = getattr(os, "killpg", None)
    try:
        if kill is not None:
            kill(pid, signal.SIGTERM)
            kill(pid, signal.SIGCONT)  # a paused child (SIGSTOP) only acts on its SIGTERM once it runs
        else:  # Windows: no process groups
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid) and kill is not None:
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class JobSlot:
    """One heavy job at a time across several kinds of job (a training and an adaptation); thread-safe.

    A job that is given the slot takes it when it starts (refused with :class:`JobBusyError` naming
    the job that holds it) and gives it back when its run ends, however it ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: str | None = None

    @property
    def holder(self) -> str | None:
        """What holds the slot (the busy message of the running job), or ``None``."""
        with self._lock:
            return self._holder

    def admitter(self, message: str) -> Callable[[], Callable[[], None]]:
        """An ``admit`` for :meth:`BackgroundJob._begin`: takes the slot (``message`` says, to a job refused
        meanwhile, what holds it), or raises :class:`JobBusyError`."""

        def admit() -> Callable[[], None]:
            with self._lock:
                if self._holder is not None:
                    raise JobBusyError(f"one heavy job at a time: {self._holder}")
                self._holder = message

            def release() -> None:
                with self._lock:
                    self._holder = None

            return release

        return admit


class ProcessJob(BackgroundJob[S]):
    """A :class:`BackgroundJob` whose work runs in a child process (:mod:`training.worker`).

    The job's thread only starts the child, polls its ``status.json`` every :data:`POLL_S` into
    the snapshot (:meth:`_on_status`) and turns its ``result.json`` into the outcome
    (:meth:`_outcome`). :meth:`cancel` ends the child within seconds (``SIGTERM``, then ``SIGKILL``
    after :data:`KILL_GRACE_S`) and the job folder, with whatever the run wrote, is removed however
    the run ends. :meth:`request_stop` asks the child to stop gracefully instead (it keeps what it
    has, e.g. a training's best epoch so far).

    Args:
        idle: the snapshot of a job that has not run.
        yield_to: polled with the status; while it says ``True`` (the server is analysing a
            visitor's upload) the child is asked to pause between its steps.
        slot: shared by the jobs of which only one may run at a time (a training and an
            adaptation): a job refuses to start while another holds it.
    """

    def __init__(self, idle: S, *, yield_to: Callable[[], bool] | None = None, slot: JobSlot | None = None) -> None:
        super().__init__(idle)
        self._job_dir: Path | None = None
        self._yield_to = yield_to
        self._slot = slot
        self._paused = False
        self.child_pid: int | None = None

    def _on_status(self, status: dict[str, Any]) -> None:
        """Fold the child's latest status into the snapshot (subclasses; called from the job's thread)."""

    def _outcome(self, result: dict[str, Any]) -> Outcome:
        """The outcome of a child that returned ``result`` (subclasses)."""
        return {"state": FINISHED}

    def _begin_process(
        self, running: S, *, target: str, args: dict[str, Any], models_root: Path, thread_name: str,
        prepare: Callable[[Path], None] | None = None,
    ) -> None:  # fmt: skip
        """Start ``target(args, job)`` in a child process, with ``running`` as the snapshot.

        Args:
            prepare: writes the job's input files into its folder before the child starts.

        Raises:
            JobBusyError: a run is in progress, or another job holds the shared slot.
            OSError: the job folder cannot be made.
        """
        root = jobs_root(models_root)
        root.mkdir(parents=True, exist_ok=True)

        def work(stop: threading.Event) -> Outcome:
            return self._run_child(stop, root=root, target=target, args=args, prepare=prepare)

        admit = self._slot.admitter(self._busy_message(running)) if self._slot else None
        self._begin(running, work, thread_name=thread_name, admit=admit)

    def _run_child(
        self, stop: threading.Event, *, root: Path, target: str, args: dict[str, Any],
        prepare: Callable[[Path], None] | None = None,
    ) -> Outcome:  # fmt: skip
        from training.worker import STATUS_FILE, read_json  # noqa: PLC0415

        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=root))
        self._job_dir = job_dir
        self._paused = False
        process: subprocess.Popen[bytes] | None = None
        try:
            if prepare is not None:
                prepare(job_dir)
            process = _spawn(job_dir, target, args)
            self.child_pid = process.pid
            seen = 0
            while process.poll() is None:
                if stop.is_set():
                    _end_process_group(process.pid, grace_s=KILL_GRACE_S)
                    process.wait()
                    return {"state": CANCELLED}
                seen = self._read_status(job_dir / STATUS_FILE, seen, read_json)
                self._pause_if_busy(job_dir, process.pid)
                time.sleep(POLL_S)
            self._read_status(job_dir / STATUS_FILE, seen, read_json)
            if stop.is_set():
                return {"state": CANCELLED}
            ok, result = _child_result(job_dir, process.returncode, self.crash_label)
            return self._outcome(result) if ok else {"state": FAILED, "error": result}
        finally:
            if process is not None and process.poll() is None:  # the thread itself failed: leave no orphan
                _end_process_group(process.pid, grace_s=KILL_GRACE_S)
            self.child_pid = None
            self._job_dir = None
            shutil.rmtree(job_dir, ignore_errors=True)

    def _pause_if_busy(self, job_dir: Path, pid: int) -> None:
        """Hold the child while :attr:`_yield_to` says the server is busy, and let it go on after.

        Where there are job-control signals the whole child process group is stopped at once
        (``SIGSTOP``; ``SIGCONT`` after), wherever it is in a batch; elsewhere a ``pause`` file asks
        it to wait at its next step. If the server dies meanwhile, the kernel sends a stopped,
        orphaned process group ``SIGHUP`` and ``SIGCONT``, which ends the child.
        """
        from training.worker import PAUSE_FILE  # noqa: PLC0415

        if self._yield_to is None:
            return
        want = bool(self._yield_to())
        if want == self._paused:
            return
        self._paused = want
        stop_sig, cont_sig = getattr(signal, "SIGSTOP", None), getattr(signal, "SIGCONT", None)
        kill = getattr(os, "killpg", None)
        try:
            if kill is not None and stop_sig is not None and cont_sig is not None:
                kill(pid, stop_sig if want else cont_sig)
            elif want:
                (job_dir / PAUSE_FILE).touch()
            else:
                (job_dir / PAUSE_FILE).unlink(missing_ok=True)
        except (OSError, ProcessLookupError):  # the child is gone, or its folder went with a cancel
            pass

    def _read_status(self, path: Path, seen: int, read: Callable[[Path], Any]) -> int:
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return seen
        if mtime == seen:
            return seen
        status = read(path)
        if isinstance(status, dict):
            with self._lock:
                running = self._snapshot.state == RUNNING
            if running:
                self._on_status(status)
        return mtime

    def request_stop(self) -> bool:
        """Ask the child to stop gracefully (it keeps what it has); ``False`` if nothing runs."""
        from training.worker import STOP_FILE  # noqa: PLC0415

        job_dir = self._job_dir
        with self._lock:
            if self._snapshot.state != RUNNING or job_dir is None:
                return False
            self._snapshot = replace(self._snapshot, cancel_requested=True, **self.on_stop)
        try:
            (job_dir / STOP_FILE).touch()
        except OSError:
            return False
        return True


def _spawn(job_dir: Path, target: str, args: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start :mod:`training.worker` on ``job_dir`` for ``target(args)``, in a process group of its own."""
    from training.worker import LOG_FILE, SPEC_FILE, replace_json  # noqa: PLC0415

    spec = {"target": target, "args": args, "parent_pid": os.getpid(), "nice": JOB_NICE}
    replace_json(job_dir / SPEC_FILE, spec)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")]))}
    with open(job_dir / LOG_FILE, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "training.worker", str(job_dir)], stdin=subprocess.DEVNULL, stdout=log,
            # A process group of its own (ended as one: _end_process_group) in the server's session: when the
            # server dies, the group is orphaned and the kernel sends a stopped (paused) child SIGHUP and SIGCONT.
            stderr=subprocess.STDOUT, cwd=_REPO, env=env, **_OWN_PROCESS_GROUP,
        )  # fmt: skip
    # Replaced, never rewritten in place: the child may be reading it this very moment.
    replace_json(job_dir / SPEC_FILE, {**spec, "child_pid": process.pid})
    return process


def _child_result(job_dir: Path, returncode: int | None, label: str) -> tuple[bool, Any]:
    """``(True, result)`` when the child's target returned, else ``(False, the error in words)``."""
    from training.worker import LOG_FILE, RESULT_FILE, read_json  # noqa: PLC0415

    result = read_json(job_dir / RESULT_FILE)
    if not isinstance(result, dict):
        return False, f"{label} stopped unexpectedly (exit code {returncode}){_log_tail(job_dir / LOG_FILE)}"
    if not result.get("ok"):
        return False, str(result.get("error") or f"{label} failed")
    return True, dict(result.get("result") or {})


T = TypeVar("T")


def run_in_child(
    target: str, args: dict[str, Any], *, collect: Callable[[Path], T], prepare: Callable[[Path], None] | None = None,
    timeout_s: float = 300.0, label: str = "the job",
) -> T:  # fmt: skip
    """Run ``target(args, job)`` in a child process and wait for it: a short heavy task (it imports
    Keras) kept out of the server's process.

    Args:
        prepare: writes the task's input files into its folder before it starts.
        collect: reads what the task wrote into its folder, once it has returned.
        timeout_s: the child is ended after this long.

    Raises:
        JobError: the task failed, crashed or ran out of time (the message says which).
    """
    job_dir = Path(tempfile.mkdtemp(prefix="fer-job-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        if prepare is not None:
            prepare(job_dir)
        process = _spawn(job_dir, target, args)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise JobError(f"{label} took more than {timeout_s:.0f} s and was stopped") from None
        ok, result = _child_result(job_dir, process.returncode, label)
        if not ok:
            raise JobError(result)
        return collect(job_dir)
    finally:
        if process is not None and process.poll() is None:
            _end_process_group(process.pid, grace_s=KILL_GRACE_S)
        shutil.rmtree(job_dir, ignore_errors=True)


def _log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a child's log, for a crash message (never a path of the server's)."""
    try:
        tail = [line for line in path.read_text(errors="replace").splitlines() if line.strip()][-lines:]
    except OSError:
        return ""
    return (": " + " | ".join(line.strip() for line in tail)) if tail else ""
