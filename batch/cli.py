"""Command line: ``python -m batch INPUT... --out DIR``, ``predict`` and ``video`` over whole archives on Ray.

Every INPUT (file, folder, glob, manifest or URI: see :mod:`batch.inputs`) is analysed with the
same pipeline and options as ``python -m core predict`` (images) and ``python -m core video``
(videos); the rows go to one Parquet dataset in DIR (see :mod:`batch.output` and
:mod:`batch.rows`). Progress goes to stderr; the summary to stdout and to ``DIR/_summary.json``.
Exit status: 0 every input read, 1 some could not be read (see their ``error``), 2 bad usage,
model, output folder or cluster (nothing was analysed), or a job stopped part-way (``--resume``
finishes it).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from core.cli_common import (
    add_crops_option, add_detector_options, add_model_option, add_tta_option, add_video_options, number_type,
    photo_options,
)  # fmt: skip
from core.errors import ModelLoadError

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
DEFAULT_IMAGES_PER_UNIT = 16

_positive_int = number_type(int, minimum=1, what="a whole number")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m batch`` argument parser: the analysis options are ``python -m core``'s own."""
    parser = argparse.ArgumentParser(
        prog="python -m batch",
        description=(
            "Detect faces and classify their emotions in many images and videos on Ray (a local Ray on this "
            "machine's cores, or the cluster RAY_ADDRESS or --address names), writing one Parquet dataset. "
            "Exit status: 0 all inputs read, 1 some could not be read (see their 'error'), 2 bad arguments, "
            "model, output folder or cluster, or a job stopped part-way (--resume finishes it)."
        ),
    )
    add = parser.add_argument
    add(
        "inputs", nargs="+", metavar="INPUT",
        help="image, video, folder, glob ('photos/**/*.jpg'), manifest (.csv or .parquet with a 'path' column) "
        "or URI (s3://bucket/photos/)",
    )  # fmt: skip
    add("--out", required=True, metavar="DIR", help="folder (or URI) for the Parquet dataset; must be new or empty")
    add("--resume", action="store_true", help="finish an interrupted job in DIR (same INPUTs and options)")
    # The options of python -m core predict and video, defined once in core.cli_common.
    add_model_option(parser)
    add_detector_options(parser)
    add_tta_option(parser)
    add_crops_option(parser)
    add_video_options(parser)
    add("--workers", type=_positive_int, metavar="N", help="actors, one CPU each (default: every CPU of the cluster)")
    add("--address", metavar="HOST:PORT", help="Ray cluster to join (default: RAY_ADDRESS, else a new local Ray)")
    add(
        "--images-per-task", type=_positive_int, default=DEFAULT_IMAGES_PER_UNIT, metavar="N",
        help=f"images per task and per Parquet file (default {DEFAULT_IMAGES_PER_UNIT})",
    )  # fmt: skip
    add(
        "--rows-per-file", type=_positive_int, default=None, metavar="N",
        help="a video's rows per Parquet file (default 5000): only one file's rows are held in memory",
    )  # fmt: skip
    add("--quiet", action="store_true", help="no progress on stderr")
    return parser


@dataclass(frozen=True)
class Summary:
    """The outcome of a job, computed from the dataset itself (so a resumed job counts every run)."""

    inputs: int
    images: int
    videos: int
    failed: int
    faces: int
    rows: int
    emotions: dict[str, int]
    wall_s: float
    analysed_this_run: int
    startup_s: float = 0.0

    @property
    def images_per_s(self) -> float:
        """Inputs analysed by this run per second of its wall clock."""
        return self.analysed_this_run / max(self.wall_s, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "inputs": self.inputs, "images": self.images, "videos": self.videos, "failed": self.failed,
            "faces": self.faces, "rows": self.rows, "emotions": dict(self.emotions),
            "wall_s": round(self.wall_s, 3), "analysed_this_run": self.analysed_this_run,
            "inputs_per_s": round(self.images_per_s, 3), "startup_s": round(self.startup_s, 3),
        }  # fmt: skip

    def text(self) -> str:
        """A few lines for people."""
        shares = ", ".join(f"{name} {count}" for name, count in self.emotions.items())
        return (
            f"inputs: {self.inputs} ({self.images} images, {self.videos} videos), {self.failed} failed\n"
            f"faces: {self.faces} in {self.rows} rows; per emotion: {shares}\n"
            f"wall time: {self.wall_s:.1f} s, {self.images_per_s:.2f} inputs/s "
            f"({self.analysed_this_run} analysed by this run)\n"
        )


def summarise(out: Any, *, videos: int, wall_s: float, analysed_this_run: int, startup_s: float = 0.0) -> Summary:
    """Count inputs, failures, faces and emotions in the dataset written to ``out``.

    Args:
        videos: how many inputs are videos (by their names, as the job planned them).
    """
    import pyarrow.compute as pc  # noqa: PLC0415

    from batch.rows import emotion_counts  # noqa: PLC0415

    table = out.read_columns(["path", "face", "emotion", "error"])
    paths = table.column("path")
    failed = pc.unique(pc.filter(paths, pc.invert(pc.is_null(table.column("error"))))) if len(table) else []
    inputs = len(pc.unique(paths)) if len(table) else 0
    with_face = pc.filter(table.column("emotion"), pc.invert(pc.is_null(table.column("face")))) if len(table) else []
    return Summary(
        inputs=inputs, images=inputs - videos, videos=videos, failed=len(failed),
        faces=len(with_face), rows=len(table), emotions=emotion_counts(list(with_face.to_pylist()) if len(table) else []),
        wall_s=wall_s, analysed_this_run=analysed_this_run, startup_s=startup_s,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    photo_options(args, parser)  # the combinations predict refuses, refused alike
    started = time.perf_counter()
    try:
        plan = prepare(args)
    except (ModelLoadError, ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_USAGE
    return execute(plan, started=started, stdout=stdout, stderr=None if args.quiet else stderr)


@dataclass(frozen=True)
class Plan:
    """A checked job, ready to run: where, what, with which settings."""

    out: Any
    units: tuple[Any, ...]
    todo: tuple[Any, ...]
    settings: Any
    model: dict[str, bytes]
    workers: int
    ready_at: float = 0.0


def prepare(args: argparse.Namespace) -> Plan:
    """Every check that can fail before any work: options, model, inputs, output folder, cluster.

    Raises:
        BatchError: bad inputs, output folder, resume or cluster.
        ModelLoadError: the model cannot be used.
        ValueError, TypeError: a bad detector option.
    """
    from batch.inputs import BatchError, expand_inputs, plan_units  # noqa: PLC0415
    from batch.job import connect, pool_size  # noqa: PLC0415
    from batch.output import BOOKKEEPING, Output  # noqa: PLC0415
    from batch.worker import DEFAULT_ROWS_PER_FILE, Settings, model_files  # noqa: PLC0415

    settings = Settings(
        model=args.model, detector=args.detector, tta=args.tta, min_score=args.min_score,
        min_face_size=args.min_face_size, small_faces=args.small_faces, crops=args.crops, verify=args.verify,
        fps=args.fps, smooth=args.smooth, rows_per_file=args.rows_per_file or DEFAULT_ROWS_PER_FILE,
    )  # fmt: skip
    settings.recognizer()  # the model and detector options, checked here rather than on every worker
    model = model_files(args.model)
    out = Output(args.out)
    job = {"inputs": list(args.inputs), "settings": settings.to_dict(), "images_per_task": args.images_per_task}
    entries = [name for name in out.entries() if name != BOOKKEEPING or not args.resume]
    if args.resume:
        stored = out.read_json(f"{BOOKKEEPING}/job.json")
        if stored is None:
            raise BatchError(f"--resume: {args.out} holds no batch job to resume; run without --resume into an empty folder")
        changed = sorted(key for key in job if stored.get(key) != job[key])
        if changed:
            raise BatchError(
                f"--resume: {args.out} holds a job with other {', '.join(changed)}; rerun its own command with "
                "--resume, or write this one to a new folder"
            )
    elif entries:
        raise BatchError(
            f"--out {args.out} is not empty ({len(entries)} entries, e.g. {entries[0]}); give a new or empty folder, "
            "or --resume to finish the job that is there"
        )
    out.check_writable()
    items = expand_inputs(args.inputs)
    units = plan_units(items, images_per_unit=args.images_per_task)
    if not units:
        raise BatchError("no inputs to analyse")
    listing = hashlib.sha256("\n".join(f"{item.kind} {item.path}" for item in items).encode()).hexdigest()
    if args.resume and stored.get("listing") != listing:
        raise BatchError(
            f"--resume: the INPUTs now list other files than when the job in {args.out} started "
            "(files added, removed or renamed); write a new job to a new folder"
        )
    job["listing"] = listing
    resources = connect(args.address)
    if args.resume:
        done = out.done_units()
        todo = tuple(unit for unit in units if unit.unit not in done)
    else:
        out.write_json(f"{BOOKKEEPING}/job.json", job)
        todo = tuple(units)
    workers = pool_size(resources.get("CPU", 1.0), requested=args.workers, units=max(len(todo), 1))
    return Plan(
        out=out, units=tuple(units), todo=todo, settings=settings, model=model, workers=workers,
        ready_at=time.perf_counter(),
    )  # fmt: skip


def execute(plan: Plan, *, started: float, stdout: TextIO, stderr: TextIO | None) -> int:
    """Run a prepared job, write and print its summary; returns the exit status."""
    from batch.inputs import VIDEO  # noqa: PLC0415
    from batch.job import ProgressLine, run_units  # noqa: PLC0415
    from batch.output import SUMMARY_JSON, SUMMARY_TEXT  # noqa: PLC0415

    inputs_total = sum(len(unit.items) for unit in plan.units)
    inputs_before = inputs_total - sum(len(unit.items) for unit in plan.todo)
    if stderr is not None:
        stderr.write(
            f"{len(plan.todo)} tasks ({inputs_total - inputs_before} inputs) on {plan.workers} worker(s)"
            f"{f'; {inputs_before} inputs done before' if inputs_before else ''}\n"
        )
    line = ProgressLine(stderr)
    try:
        final = run_units(
            plan.todo, settings=plan.settings, model=plan.model, out=plan.out.location, workers=plan.workers,
            inputs_total=inputs_total, inputs_before=inputs_before, on_progress=line.update,
        )  # fmt: skip
    except (Exception, KeyboardInterrupt) as exc:  # Ray wraps a worker's failure in its own exception types
        line.close()
        what = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {type(exc).__name__}: {exc}"
        print(
            f"error: the batch job {what}\nThe finished tasks are kept in {plan.out.location}: run the same command "
            "with --resume to do the rest.", file=stderr or sys.stderr,
        )  # fmt: skip
        return EXIT_USAGE
    line.update(final, force=True)
    line.close()
    plan.out.remove_temporaries()
    videos = sum(1 for unit in plan.units for item in unit.items if item.kind == VIDEO)
    summary = summarise(
        plan.out, videos=videos, wall_s=time.perf_counter() - started,
        analysed_this_run=final.inputs_done - inputs_before, startup_s=plan.ready_at - started,
    )  # fmt: skip
    plan.out.write_json(SUMMARY_JSON, summary.to_dict())
    plan.out.write_bytes(SUMMARY_TEXT, summary.text().encode())
    stdout.write(summary.text())
    stdout.flush()
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK
