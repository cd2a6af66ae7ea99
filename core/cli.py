"""Command line: ``python -m core COMMAND ...``: ``predict PATH [PATH ...]`` here, the other commands in
the modules of :data:`SUBCOMMANDS` (``video CLIP ...``: :mod:`core.video_cli`).

Each PATH is an image or a folder (searched recursively for supported images, in sorted order).
Results go to stdout as JSON (one object per image) or CSV (one row per face); progress goes to
stderr. Exit status: 0 all images read, 1 some image could not be read, 2 bad usage or model.

Imports run one way: this module imports the subcommand modules (only when it builds its parser),
and they and this module import :mod:`core.cli_common`; no subcommand imports this module. The
recognizer comes from :func:`core.factory.build_recognizer`, the reports from :mod:`core.reports`:
this module parses arguments and prints.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.cli_common import (
    EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, add_crops_option, add_detector_options, add_model_option, add_tta_option,
    isatty, number_type, photo_options, unique_name,
)  # fmt: skip
from core.errors import FERError, ModelLoadError
from core.labels import EMOTIONS
from core.quiet import native_stderr_silenced
from core.readout import add_groups_argument, model_readout
from core.reports import ImageReport, write_csv

if TYPE_CHECKING:
    from core.pipeline import PhotoOptions

SUBCOMMANDS: tuple[str, ...] = ("core.video_cli",)
"""Modules that add a command beside ``predict``, in ``--help`` order. Each has ``register(commands)``
(see :mod:`core.cli_common`); a new command is a new module and one more name here."""

ANNOTATED_SUFFIX = ".annotated.png"
EXPLAINED_SUFFIX = ".why.png"


@dataclass(frozen=True)
class _Job:
    """One image to process: where it is, how to show it, and a problem found before reading it."""

    path: Path
    display: str
    stem: str
    error: str | None = None


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core`` argument parser: ``predict`` and every command of :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(prog="python -m core", description="Facial emotion recognition on images.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_predict(commands)
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(commands)
    return parser


def register_predict(commands: Any) -> argparse.ArgumentParser:
    """Add the ``predict`` command to a ``python -m core`` subparsers object."""
    from core.imageio import SUPPORTED_EXTENSIONS  # noqa: PLC0415 - cheap; keeps --help light

    predict = commands.add_parser(
        "predict",
        help="detect faces in images and classify their emotions",
        description=(
            "Detect faces and classify their emotions. PATH is an image or a folder, searched recursively "
            f"for {', '.join(sorted(SUPPORTED_EXTENSIONS))} files. Exit status: 0 all images read, "
            "1 some could not be read (see their 'error'), 2 bad arguments or model."
        ),
    )
    add = predict.add_argument
    add("paths", nargs="+", metavar="PATH", help="image file or folder")
    add("--format", choices=("json", "csv"), default="json", help="output format on stdout (default json)")
    add_model_option(predict)
    add_detector_options(predict)
    add_crops_option(predict)
    add("--annotate", type=Path, metavar="DIR", help="write annotated PNG copies into DIR")
    add(
        "--explain", type=Path, metavar="DIR",
        help="write one PNG per face into DIR: the face and its occlusion saliency map (what made the model say "
        "its emotion; docs/saliency.md), named IMAGE.face-N.why.png",
    )  # fmt: skip
    add("--explain-emotion", choices=EMOTIONS, metavar="EMOTION", help="with --explain: explain this emotion instead")
    add(
        "--show-dropped", action="store_true",
        help="JSON only: also list, per image, the boxes the face checks or the face verifier dropped (animals, "
        "objects, repeats) and why",
    )  # fmt: skip
    add("--margin", type=_non_negative_float, metavar="F", help="crop margin, a fraction of the face box (default 0.1)")
    add_tta_option(predict)
    add_groups_argument(predict)
    add("--quiet", action="store_true", help="no progress bar on stderr")
    predict.set_defaults(run=lambda args: run_predict(args, parser=predict))
    return predict


_non_negative_float = number_type(float, minimum=0, what="a number such as 0.1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    with native_stderr_silenced(getattr(args, "quiet", False)):
        return args.run(args)


def run_predict(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    """Run the ``predict`` command on parsed arguments; returns the exit status (``parser`` reports misuse)."""
    options = photo_options(args, parser)
    if args.show_dropped and (args.crops or args.format != "json"):
        parser.error("--show-dropped adds to the JSON output of face detection; it needs --format json and no --crops")
    if args.explain_emotion is not None and args.explain is None:
        parser.error("--explain-emotion says which emotion --explain DIR explains: give --explain DIR too")
    return _predict(args, options)


def _predict(args: argparse.Namespace, options: PhotoOptions) -> int:
    from core.factory import build_recognizer  # noqa: PLC0415 - loads the model's runtime

    try:
        recognizer = build_recognizer(options)
        for folder in (args.annotate, args.explain):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
    except (ModelLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    jobs = collect_jobs(args.paths)
    show_progress = not args.quiet and (isatty(sys.stderr) or len(jobs) > 1)
    progress = _Progress(len(jobs), stream=sys.stderr, enabled=show_progress)
    used_names: set[str] = set()
    explained_stems: set[str] = set()
    reports = []
    for done, job in enumerate(jobs, start=1):
        report = _run_job(
            job, recognizer, crops=args.crops, annotate_dir=args.annotate, used_names=used_names,
            show_dropped=args.show_dropped,
        )
        if args.explain is not None and report.faces and not report.error:
            report = _explain_job(
                job, report, recognizer, folder=args.explain, emotion=args.explain_emotion, used=explained_stems
            )
        reports.append(report)
        progress.update(done, job.display)
    progress.close()

    readout = model_readout(recognizer, args.groups)
    if args.format == "csv":
        write_csv(reports, sys.stdout, readout=readout)
    else:
        json.dump([report.to_dict(readout) for report in reports], sys.stdout, indent=2)
        sys.stdout.write("\n")
    sys.stdout.flush()
    return EXIT_SOME_FAILED if any(report.error for report in reports) else EXIT_OK


def collect_jobs(paths: Sequence[str | Path]) -> list[_Job]:
    """Expand PATH arguments: files as given, folders recursively (supported extensions, sorted).

    A missing path or a folder without images becomes a job that carries its error, so it is
    reported in the output like an unreadable image.
    """
    from core.imageio import SUPPORTED_EXTENSIONS, is_supported_path  # noqa: PLC0415

    jobs: list[_Job] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                (p for p in path.rglob("*") if p.is_file() and is_supported_path(p) and not _is_our_output(p)),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            if not found:
                looked_for = ", ".join(sorted(SUPPORTED_EXTENSIONS))
                jobs.append(_Job(path, str(path), path.name, f"no images in folder {path} (looked for {looked_for})"))
            for file in found:
                rel = file.relative_to(path).with_suffix("")
                jobs.append(_Job(file, str(file), "__".join(rel.parts)))
        elif path.exists():
            jobs.append(_Job(path, str(path), path.stem or "image"))
        else:
            jobs.append(_Job(path, str(path), path.stem or "image", f"image file not found: {path}"))
    return jobs


def _is_our_output(path: Path) -> bool:
    # Annotated copies from an earlier run into the same folder are not inputs.
    return path.name.endswith((ANNOTATED_SUFFIX, EXPLAINED_SUFFIX))


def _run_job(
    job: _Job, recognizer: Any, *, crops: bool, annotate_dir: Path | None, used_names: set[str],
    show_dropped: bool = False,
) -> ImageReport:
    from core.detection import examine  # noqa: PLC0415
    from core.imageio import load_image  # noqa: PLC0415

    dropped = () if show_dropped else None
    if job.error:
        return ImageReport(job.display, (), job.error, dropped)
    try:
        image = load_image(job.path)
        if crops:
            faces = recognizer.predict_crops([image])
        elif show_dropped:
            found = examine(recognizer.detector(), image)
            faces, dropped = recognizer.predict_faces(image, found.faces), tuple(found.dropped)
        else:
            faces = recognizer.predict_image(image)
    except FERError as exc:
        return ImageReport(job.display, (), str(exc), dropped)
    if annotate_dir is not None:
        from core.annotate import annotate  # noqa: PLC0415

        target = annotate_dir / unique_name(job.stem, ANNOTATED_SUFFIX, used_names)
        try:
            _write_png_atomic(target, annotate(image, faces, numbered=True))
        except OSError as exc:
            problem = f"cannot write annotated copy {target}: {exc.strerror or exc}"
            return ImageReport(job.display, tuple(faces), problem, dropped)
    return ImageReport(job.display, tuple(faces), dropped=dropped)


def _explain_job(
    job: _Job, report: ImageReport, recognizer: Any, *, folder: Path, emotion: str | None, used: set[str]
) -> ImageReport:
    """Write ``folder/STEM.face-N.why.png`` for each face of a report; a failure becomes the report's error."""
    from core.imageio import load_image  # noqa: PLC0415
    from core.saliency import explain_faces, explanation_panel  # noqa: PLC0415

    stem = unique_name(job.stem, "", used)  # "a", then "a-2" for a second a.*
    try:
        image = load_image(job.path)
        maps = explain_faces(recognizer, image, report.faces, emotion=emotion)
        for number, saliency in enumerate(maps, start=1):
            _write_png_atomic(folder / f"{stem}.face-{number}{EXPLAINED_SUFFIX}", explanation_panel(saliency, image))
    except (FERError, OSError) as exc:
        return ImageReport(report.path, report.faces, f"cannot write the saliency maps into {folder}: {exc}")
    return report


def _write_png_atomic(target: Path, image: Any) -> None:
    import cv2  # noqa: PLC0415

    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"PNG encoding failed for {target.name}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded.tobytes())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Progress:
    """A one-line ``[####----] 3/10 name`` bar redrawn with carriage returns."""

    def __init__(self, total: int, *, stream: TextIO, enabled: bool, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled and total > 0
        self.width = width
        self._drawn = False

    def update(self, done: int, label: str) -> None:
        if not self.enabled:
            return
        filled = round(self.width * done / self.total)
        name = label if len(label) <= 40 else "..." + label[-37:]
        self.stream.write(f"\r[{'#' * filled}{'-' * (self.width - filled)}] {done}/{self.total} {name:<40}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
