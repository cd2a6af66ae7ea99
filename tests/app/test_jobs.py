"""app.jobs: the background-job life cycle both the Training and the Video page use, on tiny fake work."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from app.jobs import CANCELLED, FAILED, FINISHED, IDLE, RUNNING, BackgroundJob, JobBusyError, JobState, Outcome
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
