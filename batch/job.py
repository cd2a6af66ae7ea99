"""The Ray Data side of a batch job: start or join Ray, run the actor pool, follow its progress.

The only module of the package that imports Ray, and only inside :func:`run_units`/:func:`connect`.

Sizing (why it cannot deadlock): the work units enter Ray Data from the driver
(``ray.data.from_items``), so there is no read operator competing with the actors for CPUs;
each actor reads its own inputs' bytes (two threads read ahead while it analyses). The pool is
fixed at ``min(--workers or the cluster's CPUs, units to do)`` actors of ``num_cpus=1``: every
core busy, and nothing else in the job needs a CPU slot that the actors could be holding.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, TextIO

from batch.inputs import BatchError, Unit
from batch.worker import Analyser, Settings

# Work units per Ray Data block: one each for small jobs, so a slow video never holds others back.
_MAX_BLOCKS = 5000


class Progress(NamedTuple):
    """What the driver has heard from the workers so far (each unit and chunk counted once).

    ``inputs_done`` counts the inputs a resumed job had done before (``inputs_before``) too.
    """

    units_done: int
    units_total: int
    inputs_done: int
    inputs_total: int
    inputs_before: int
    faces: int
    errors: int
    frames: int
    elapsed_s: float


def connect(address: str | None = None) -> dict[str, float]:
    """Join Ray (``address``, else ``RAY_ADDRESS``, else a new local Ray on this machine's cores).

    Returns:
        The cluster's resources (``{"CPU": 16.0, ...}``).

    Raises:
        BatchError: Ray is not installed, or the cluster cannot be reached.
    """
    try:
        import ray  # noqa: PLC0415
    except ImportError as exc:
        raise BatchError(
            "Ray is not installed: pip install -r requirements-ray.txt (batch jobs need it; the app does not)"
        ) from exc
    where = address or (None if ray.is_initialized() else os.environ.get("RAY_ADDRESS"))
    if where:
        check_reachable(where)
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False if not where else None, log_to_driver=True)
        except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError...: all mean "no cluster there"
            raise BatchError(f"cannot reach the Ray cluster at {where or 'a new local Ray'}: {exc}") from exc
    return dict(ray.cluster_resources())


def check_reachable(address: str, *, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at a cluster's ``host:port`` (``ray.init`` retries for minutes).

    ``auto`` and addresses without a port are left to Ray.

    Raises:
        BatchError: the address does not answer.
    """
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise BatchError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; check --address or RAY_ADDRESS "
            "(the head node's GCS address, e.g. 10.0.0.5:6379) and that the cluster is up"
        ) from exc


def pool_size(cpus: float, *, requested: int | None, units: int) -> int:
    """Actors for the job: ``requested`` (else one per CPU), never more than CPUs or units, at least one.

    Raises:
        BatchError: more workers requested than the cluster has CPUs (the extra ones would wait forever).
    """
    available = max(1, int(cpus))
    if requested is not None and requested > available:
        raise BatchError(f"--workers {requested} is more than the cluster's {available} CPU(s); give at most {available}")
    return max(1, min(requested or available, available, units))


def run_units(
    units: Sequence[Unit],
    *,
    settings: Settings,
    model: dict[str, bytes],
    out: str,
    workers: int,
    inputs_total: int,
    inputs_before: int = 0,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Run the units on an actor pool of ``workers`` one-CPU actors; returns the final progress.

    Args:
        units: the units still to do.
        inputs_total: inputs of the whole job (a resumed job counts those done before as ``inputs_before``).
    """
    import ray  # noqa: PLC0415
    from ray.data import ActorPoolStrategy, DataContext  # noqa: PLC0415

    context = DataContext.get_current()
    context.enable_progress_bars = False  # ours is one line for the whole job
    context.print_on_execution_start = False
    started = time.perf_counter()
    seen: set[tuple[int, int]] = set()
    done_units = inputs_done = faces = errors = frames = 0

    def snapshot() -> Progress:
        return Progress(done_units, len(units), inputs_before + inputs_done, inputs_total, inputs_before, faces, errors,
                        frames, time.perf_counter() - started)  # fmt: skip

    if not units:
        return snapshot()
    dataset = ray.data.from_items([unit.to_row() for unit in units], override_num_blocks=min(len(units), _MAX_BLOCKS))
    statuses = dataset.map_batches(
        Analyser,
        fn_constructor_kwargs={"settings": settings, "model": model, "out": out},
        batch_size=1,
        compute=ActorPoolStrategy(size=workers),
        num_cpus=1,
        batch_format="numpy",
    )
    for batch in statuses.iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["unit"])):
            key = (int(batch["unit"][i]), int(batch["chunk"][i]))
            if key in seen:  # a killed worker's task ran again: its files were overwritten, not added
                continue
            seen.add(key)
            faces += int(batch["faces"][i])
            errors += int(batch["errors"][i])
            frames += int(batch["frames"][i])
            if bool(batch["final"][i]):
                done_units += 1
                inputs_done += int(batch["inputs"][i])
        if on_progress is not None:
            on_progress(snapshot())
    return snapshot()


class ProgressLine:
    """``[#####-----] 120/500 inputs  3 errors  410 faces  12.1 inputs/s  eta 31 s`` on stderr."""

    def __init__(self, stream: TextIO | None = sys.stderr, *, width: int = 24, every_s: float = 1.0) -> None:
        self.stream = stream
        self.tty = stream is not None and bool(getattr(stream, "isatty", lambda: False)())
        self.width = width
        self.every_s = every_s if self.tty else max(every_s, 10.0)
        self._last = -1e9
        self._drawn = False

    def update(self, progress: Progress, *, force: bool = False) -> None:
        if self.stream is None or (not force and progress.elapsed_s - self._last < self.every_s):
            return
        self._last = progress.elapsed_s
        total = max(progress.inputs_total, 1)
        filled = round(self.width * progress.inputs_done / total)
        rate = (progress.inputs_done - progress.inputs_before) / max(progress.elapsed_s, 1e-9)
        left = progress.units_total - progress.units_done
        eta = ""
        if progress.units_done and left:
            eta = f"  eta {progress.elapsed_s * left / progress.units_done:.0f} s"
        frames = f"  {progress.frames} frames" if progress.frames else ""
        text = (
            f"[{'#' * filled}{'-' * (self.width - filled)}] {progress.inputs_done}/{progress.inputs_total} inputs  "
            f"{progress.errors} errors  {progress.faces} faces{frames}  {rate:.1f} inputs/s{eta}"
        )
        self.stream.write(f"\r{text}   " if self.tty else f"{text}\n")
        self.stream.flush()
        self._drawn = self.tty

    def close(self) -> None:
        if self.stream is not None and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

