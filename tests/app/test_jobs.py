"""app.jobs: the background-job life cycle the Training and the Video page use, in a thread and in a child
process, on tiny fake work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.jobs import (
    CANCELLED,
    FAILED,
    FINISHED,
    IDLE,
    JOB_NICE,
    RUNNING,
    BackgroundJob,
    JobBusyError,
    JobError,
    JobState,
    Outcome,
    ProcessJob,
    jobs_root,
    run_in_child,
    sweep_stale_jobs,
)
from core.errors import FERError


@dataclass(frozen=True)
class CountSnapshot(JobState):
    phase: str = ""
    count: int = 0


class CountBusyError(JobBusyError):
    pass


class CountJob(BackgroundJob[CountSnapshot]):
    busy_error = CountBusyError
    crash_label = "counting"
    on_cancel = {"phase": "stopping"}
    on_end = {"phase": ""}

    def __init__(self) -> None:
        super().__init__(CountSnapshot())

    def start(self, name: str, work, admit=None) -> None:  # noqa: ANN001
        self._begin(
            CountSnapshot(state=RUNNING, name=name, phase="counting", started=time.monotonic()), work,
            thread_name=f"count-{name}", admit=admit,
        )  # fmt: skip


def test_a_run_finishes_with_its_outcome_and_the_end_fields() -> None:
    job = CountJob()
    assert job.snapshot() == CountSnapshot() and not job.snapshot().active and job.snapshot().elapsed_s == 0.0
    job.start("a", lambda stop: {"state": FINISHED, "count": 3})
    assert job.join(5)
    done = job.snapshot()
    assert (done.state, done.count, done.phase, done.name) == (FINISHED, 3, "", "a")
    assert done.finished is not None and done.elapsed_s == done.finished - done.started
    job.clear()
    assert job.snapshot() == CountSnapshot() and job.snapshot().state == IDLE


def test_one_run_at_a_time_and_cancel_sets_its_fields() -> None:
    job = CountJob()
    started = threading.Event()

    def work(stop: threading.Event) -> Outcome:
        started.set()
        assert stop.wait(5)
        return {"state": CANCELLED}

    assert not job.cancel()  # nothing to cancel yet
    job.start("first", work)
    assert started.wait(5) and job.snapshot().active
    with pytest.raises(CountBusyError, match="first is still running; wait for it or cancel it"):
        job.start("second", work)
    job.clear()  # a running job is not forgotten
    assert job.snapshot().name == "first"
    assert job.cancel()
    assert job.snapshot().cancel_requested and job.snapshot().phase == "stopping"
    assert job.join(5)
    assert job.snapshot().state == CANCELLED and job.snapshot().phase == ""
    assert not job.cancel()


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (FERError("the clip is damaged"), "the clip is damaged"),
        (ValueError("bad value"), "bad value"),
        (OSError("disk full"), "disk full"),
        (ZeroDivisionError("boom"), "counting crashed: ZeroDivisionError: boom"),
    ],
)
def test_errors_and_crashes_end_the_run_as_failed(error: Exception, message: str) -> None:
    def work(stop: threading.Event) -> Outcome:
        raise error

    job = CountJob()
    job.start("x", work)
    assert job.join(5)
    snapshot = job.snapshot()
    assert (snapshot.state, snapshot.error, snapshot.phase) == (FAILED, message, "")


def test_admit_may_refuse_and_its_release_runs_however_the_run_ends() -> None:
    released: list[str] = []
    job = CountJob()

    def refuse() -> None:
        raise FERError("busy, try again")

    with pytest.raises(FERError, match="busy, try again"):
        job.start("refused", lambda stop: {"state": FINISHED}, admit=refuse)
    assert job.snapshot().state == IDLE and job._thread is None

    seen: list[bool] = []

    def crash(stop: threading.Event) -> Outcome:
        raise RuntimeError("no")

    def watch(state: str) -> None:
        seen.append(job.snapshot().state == RUNNING)  # released before the page sees the end
        released.append(state)

    job.start("ok", lambda stop: {"state": FINISHED}, admit=lambda: lambda: watch("ok"))
    assert job.join(5)
    job.start("crash", crash, admit=lambda: lambda: watch("crash"))
    assert job.join(5)
    assert released == ["ok", "crash"] and seen == [True, True]
    assert job.snapshot().error == "counting crashed: RuntimeError: no"


def test_a_thread_that_cannot_start_leaves_the_job_idle_and_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    released: list[bool] = []

    def no_threads(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_threads)
    job = CountJob()
    with pytest.raises(RuntimeError, match="can't start new thread"):
        job.start("a", lambda stop: {"state": FINISHED}, admit=lambda: lambda: released.append(True))
    assert job.snapshot() == CountSnapshot() and released == [True]


# --- jobs in a child process ------------------------------------------------------------------


@dataclass(frozen=True)
class ChildSnapshot(JobState):
    phase: str = ""
    step: int = 0
    result: dict | None = None


class ChildJob(ProcessJob[ChildSnapshot]):
    crash_label = "the test job"
    on_cancel = {"phase": "cancelling"}
    on_stop = {"phase": "stopping"}

    def __init__(self) -> None:
        super().__init__(ChildSnapshot())

    def start(self, target: str, args: dict, root: Path) -> None:
        running = ChildSnapshot(state=RUNNING, name="child", phase="starting", started=time.monotonic())
        self._begin_process(running, target=f"tests.app.fake_tasks:{target}", args=args, models_root=root,
                            thread_name="child-test")  # fmt: skip

    def _on_status(self, status: dict) -> None:
        self._update(phase=status.get("phase", ""), step=int(status.get("step", 0)))

    def _outcome(self, result: dict) -> Outcome:
        return {"state": FINISHED, "result": result}


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie still answers kill(0): it is dead once its state is Z (reaped by the job's wait()).
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def _wait_file(path: Path, within: float = 60) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path.name} never appeared")


def test_a_cancelled_child_is_killed_within_seconds_and_leaves_nothing(tmp_path: Path) -> None:
    models = tmp_path / "models"
    job = ChildJob()
    job.start("sleeper", {"pid_file": str(tmp_path / "pid"), "release": str(tmp_path / "never")}, models)
    pid = int(_wait_file(tmp_path / "pid"))
    assert pid != os.getpid()
    deadline = time.monotonic() + 10
    while job.snapshot().phase != "working" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.snapshot().phase == "working" and job.snapshot().step == 1  # the child's status reached the snapshot
    assert list(jobs_root(models).iterdir()), "the job's folder exists while it runs"
    started = time.monotonic()
    assert job.cancel()
    assert job.join(15) and time.monotonic() - started < 10
    assert job.snapshot().state == CANCELLED
    assert _gone(pid, 5), "the child process still runs"
    assert list(jobs_root(models).iterdir()) == []  # what it wrote is gone


def test_a_child_that_ignores_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.jobs as jobs  # noqa: PLC0415

    monkeypatch.setattr(jobs, "KILL_GRACE_S", 0.5)
    code = "import signal, time, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout.readline().strip() == b"ready"
    started = time.monotonic()
    jobs._end_process_group(process.pid, grace_s=0.5)
    assert process.wait(10) == -9 and time.monotonic() - started < 5


def test_a_graceful_stop_lets_the_child_finish_and_it_runs_at_a_lower_priority(tmp_path: Path) -> None:
    job = ChildJob()
    job.start("sleeper", {"pid_file": str(tmp_path / "pid"), "release": str(tmp_path / "never")}, tmp_path / "m")
    _wait_file(tmp_path / "pid")
    assert job.request_stop() and job.snapshot().phase == "stopping"
    assert job.join(15)
    done = job.snapshot()
    assert done.state == FINISHED and done.result["stopped"] and not done.result["released"]
    assert done.result["nice"] >= os.nice(0) + JOB_NICE or done.result["nice"] == 19
    assert list(jobs_root(tmp_path / "m").iterdir()) == []


@pytest.mark.parametrize(
    ("target", "message"),
    [("fails", "bad input"), ("dies", "the test job stopped unexpectedly (exit code 9): about to die")],
)
def test_a_failing_or_dying_child_ends_the_run_as_failed(tmp_path: Path, target: str, message: str) -> None:
    job = ChildJob()
    job.start(target, {}, tmp_path)
    assert job.join(60)
    assert (job.snapshot().state, job.snapshot().error) == (FAILED, message)
    assert list(jobs_root(tmp_path).iterdir()) == []


def test_run_in_child_prepares_collects_and_reports_errors() -> None:
    out = run_in_child(
        "tests.app.fake_tasks:echo", {"x": 1}, prepare=lambda d: (d / "in.txt").write_text("hello"),
        collect=lambda d: (d / "out.txt").read_text(),
    )  # fmt: skip
    assert out == "HELLO"
    with pytest.raises(JobError, match="no good"):
        run_in_child("tests.app.fake_tasks:fails", {"message": "no good"}, collect=lambda d: None)


@pytest.mark.parametrize("paused", [False, True])
def test_a_dead_server_leaves_no_orphan_and_no_job_folder(tmp_path: Path, paused: bool) -> None:
    """The server is killed mid-run: its child ends itself and removes its folder; a child the server
    had paused (stopped) is ended by the kernel (an orphaned, stopped process group gets SIGHUP)."""
    models = tmp_path / "models"
    flag = tmp_path / "busy"
    server = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "sys.path.insert(0, '.')\n"
        "from tests.app.test_jobs import ChildJob\n"
        "job = ChildJob()\n"
        f"job._yield_to = Path({str(flag)!r}).exists\n"
        f"job.start('sleeper', {{'pid_file': {str(tmp_path / 'pid')!r}, 'release': {str(tmp_path / 'never')!r}}}, "
        f"Path({str(models)!r}))\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", server], cwd=Path(__file__).resolve().parents[2])
    try:
        child = int(_wait_file(tmp_path / "pid"))
        assert list(jobs_root(models).iterdir())
        if paused:
            flag.touch()
            deadline = time.monotonic() + 10
            while Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
                assert time.monotonic() < deadline, "the child was not paused"
                time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    assert _gone(child, 10), "the child outlived its server"
    if paused:  # killed by the kernel's SIGHUP, it removed nothing: the next server's sweep does
        assert sweep_stale_jobs(models)
    deadline = time.monotonic() + 10
    while list(jobs_root(models).iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(jobs_root(models).iterdir()) == []


def test_sweep_removes_the_folders_of_dead_servers_only(tmp_path: Path) -> None:
    root = jobs_root(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name, parent in (("job-dead", dead.pid), ("job-live", os.getppid()), ("job-nospec", None)):
        (root / name / "model").mkdir(parents=True)
        if parent is not None:
            (root / name / "spec.json").write_text(json.dumps({"parent_pid": parent}))
    assert sorted(sweep_stale_jobs(tmp_path)) == ["job-dead", "job-nospec"]
    assert [p.name for p in root.iterdir()] == ["job-live"]


@pytest.mark.parametrize("how", ["signals", "pause file"])
def test_the_child_pauses_while_the_server_is_busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "pause file":  # where there are no process groups (Windows): the child waits at its next step
        monkeypatch.delattr(os, "killpg")
    busy = threading.Event()
    job = ChildJob()
    job._yield_to = busy.is_set  # what the training job gets: the heavy-work gate's busy()
    count = tmp_path / "count"
    job.start("counter", {"count": str(count)}, tmp_path / "m")
    _wait_file(count)
    busy.set()
    time.sleep(0.5)  # the job's thread sees it within POLL_S
    held = count.read_text()
    time.sleep(1.0)
    assert count.read_text() == held, "the child kept working while the server was busy"
    busy.clear()
    deadline = time.monotonic() + 10
    while count.read_text() == held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count.read_text() != held, "the child did not resume"
    assert job.request_stop() and job.join(15)
    if how == "pause file":
        assert job.snapshot().result["paused_s"] >= 0.9


def test_a_paused_child_is_still_cancelled_within_seconds(tmp_path: Path) -> None:
    busy = threading.Event()
    job = ChildJob()
    job._yield_to = busy.is_set
    job.start("sleeper", {"pid_file": str(tmp_path / "pid"), "release": str(tmp_path / "never")}, tmp_path / "m")
    pid = int(_wait_file(tmp_path / "pid"))
    busy.set()  # from now on the server stays busy: the child is held
    time.sleep(0.5)
    assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"  # stopped
    started = time.monotonic()
    assert job.cancel() and job.join(15) and time.monotonic() - started < 5
    assert _gone(pid, 5) and list(jobs_root(tmp_path / "m").iterdir()) == []
