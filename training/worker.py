"""Heavy jobs in a process of their own: the child's side (``python -m training.worker JOB_DIR``).

The app never trains in its own process: TensorFlow, once imported, makes every later garbage
collection of the server slower (Streamlit collects after every script run) and keeps its memory,
and a training thread holds the CPU for minutes. So :class:`app.jobs.ProcessJob` writes a job
folder and starts this module in a child process at a lower CPU priority; the folder is the only
channel between the two:

- ``spec.json`` (written by the parent): ``target`` (``"module:function"``), its ``args``, the
  parent's process id and the niceness to take.
- ``status.json`` (written here, replaced atomically at most :data:`STATUS_INTERVAL_S` apart, and
  at once for anything but a batch): the latest progress, for the page to poll.
- ``result.json`` (written here when the target returns or raises): ``{"ok": true, "result": ...}``
  or ``{"ok": false, "error": "..."}``.
- ``pause`` (present while the server analyses a visitor's photos or video): a target that calls
  :meth:`Job.wait_while_paused` between its steps waits, so on a 2-core machine (where the two
  "cores" may be one physical core's two threads, and niceness cannot help) the visitor gets the CPU.
- ``stop`` (written by the parent): ask the target to stop gracefully (its stop event is set);
  a *cancel* does not ask: the parent terminates this process and removes the folder.

A target is ``function(args: dict, job: Job) -> dict`` (JSON-safe): it reports with
:meth:`Job.report` and watches :attr:`Job.stop`. If the parent process dies (the server was
stopped or restarted), this process removes its folder and exits within a second, so a restart
leaves no orphan and no half-written model: targets write under :attr:`Job.dir` and move their
result into place only when it is complete.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import FERError

SPEC_FILE, STATUS_FILE, RESULT_FILE, STOP_FILE, LOG_FILE = "spec.json", "status.json", "result.json", "stop", "worker.log"
PAUSE_FILE = "pause"
"""Present while the parent wants the CPU back (a visitor's analysis): a target that calls
:meth:`Job.wait_while_paused` between steps waits."""
STATUS_INTERVAL_S = 0.25
"""Batch progress is written at most this often; other reports at once."""
WATCH_INTERVAL_S = 0.5
"""How often the child looks for a stop request and for its parent."""
EXIT_PARENT_GONE = 3


def replace_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON into ``path`` through a temporary file and a rename, so a reader never sees
    half of it (no fsync: progress is written several times a second and is worthless after a crash)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or ``None`` when it is missing or not (yet) complete."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Job:
    """What a target gets: its folder, its stop event and a way to report progress."""

    def __init__(self, job_dir: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.dir = Path(job_dir)
        self.stop = threading.Event()
        self._clock = clock
        self._last_write = float("-inf")
        self._status: dict[str, Any] = {}
        self._lock = threading.Lock()

    def wait_while_paused(self, *, poll_s: float = 0.05) -> float:
        """Wait while the parent asks for a pause (or until a stop); the seconds waited."""
        started = self._clock()
        while (self.dir / PAUSE_FILE).exists() and not self.stop.is_set():
            time.sleep(poll_s)
        return self._clock() - started

    def report(self, *, throttle: bool = False, **fields: Any) -> None:
        """Merge ``fields`` into the status and write it (``throttle``: at most every :data:`STATUS_INTERVAL_S`)."""
        with self._lock:
            self._status.update(fields)
            now = self._clock()
            if throttle and now - self._last_write < STATUS_INTERVAL_S:
                return
            self._last_write = now
            replace_json(self.dir / STATUS_FILE, self._status)


def lower_priority(nice: int) -> None:
    """Take ``nice`` more niceness (best effort).

    On Linux with autogroups every session is scheduled as a group of its own and niceness counts
    only inside a group, so the app starts this process in the server's session (a process group of
    its own: :func:`app.jobs._spawn`), where its niceness does count against the server.
    """
    try:
        os.nice(nice)
    except (AttributeError, OSError):  # Windows has no nice; a refused renice is not fatal
        pass


def _load_target(target: str) -> Callable[[dict[str, Any], Job], dict[str, Any]]:
    module_name, _, function = target.partition(":")
    if not module_name or not function:
        raise ValueError(f"a job target is 'module:function', not {target!r}")
    return getattr(importlib.import_module(module_name), function)


def _watch(job: Job, parent_pid: int | None) -> None:
    """Set the stop event when ``stop`` appears; end this process when the parent is gone."""
    while True:
        if (job.dir / STOP_FILE).exists():
            job.stop.set()
        if parent_pid is not None and os.getppid() != parent_pid:
            # The server is gone: nothing will read this job; leave nothing behind.
            shutil.rmtree(job.dir, ignore_errors=True)
            os._exit(EXIT_PARENT_GONE)
        time.sleep(WATCH_INTERVAL_S)


def run(job_dir: Path) -> int:
    """Run the job described by ``job_dir/spec.json``; 0 when its target returned, 1 when it failed."""
    job = Job(job_dir)
    spec = read_json(job.dir / SPEC_FILE)
    if not isinstance(spec, dict) or "target" not in spec:
        print(f"error: no job spec in {job.dir}", file=sys.stderr)
        return 2
    if spec.get("nice"):
        lower_priority(int(spec["nice"]))
    threading.Thread(target=_watch, args=(job, spec.get("parent_pid")), name="job-watch", daemon=True).start()
    try:
        result = _load_target(spec["target"])(dict(spec.get("args") or {}), job)
        replace_json(job.dir / RESULT_FILE, {"ok": True, "result": result})
        return 0
    except (FERError, ValueError, OSError) as exc:
        replace_json(job.dir / RESULT_FILE, {"ok": False, "error": str(exc)})
    except Exception as exc:  # a crash must still reach the page, in one line
        traceback.print_exc()
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        replace_json(job.dir / RESULT_FILE, {"ok": False, "error": f"crashed: {detail}"})
    return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m training.worker JOB_DIR (started by the app; see app.jobs.ProcessJob)", file=sys.stderr)
        return 2
    return run(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
