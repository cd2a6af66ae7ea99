"""Command line: ``python -m core COMMAND ...``: ``predict PATH [PATH ...]`` here, the other commands in
the modules of :data:`SUBCOMMANDS` (``video CLIP ...``: :mod:`core.video_cli`).

Each PATH is an image or a folder (searched recursively for supported images, in sorted order).
Results go to stdout as JSON (one object per image) or CSV (one row per face); progress goes to
stderr. Exit status: 0 all images read, 1 some image could not be read, 2 bad usage or model.

Imports run one way: this module imports the subcommand modules (only when it builds its parser),
and they and this module import :mod:`core.cli_common`; no subcommand imports this module.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from core.cli_common import (
    EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, add_model_option, isatty, make_detector, number_type, unique_name,
)  # fmt: skip
from core.errors import FERError, ModelLoadError
from core.preprocess import TTA_MODES
from core.labels import EMOTIONS
from core.readout import FLAG_COLUMNS, Readout, add_groups_argument, model_readout

SUBCOMMANDS: tuple[str, ...] = ("core.video_cli",)
"""Modules that add a command beside ``predict``, in ``--help`` order. Each has ``register(commands)``
(see :mod:`core.cli_common`); a new command is a new module and one more name here."""

LANDMARK_COLUMNS: tuple[str, ...] = tuple(
    f"{point}_{axis}" for point in ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth") for axis in "xy"
)
"""CSV columns of YuNet's five landmarks (empty for detectors without landmarks)."""

CSV_COLUMNS: tuple[str, ...] = (
    "path", "face", "x", "y", "w", "h", "emotion", "confidence",
    *(f"prob_{name}" for name in EMOTIONS),
    "detection_score", *LANDMARK_COLUMNS,
    *FLAG_COLUMNS,
    "error",
)  # fmt: skip
"""Columns of ``predict --format csv``; with ``--groups``, the group columns come before ``error``."""
ANNOTATED_SUFFIX = ".annotated.png"
EXPLAINED_SUFFIX = ".why.png"


@dataclass(frozen=True)
class _Job:
    """One image to process: where it is, how to show it, and a problem found before reading it."""

    path: Path
    display: str
    stem: str
    error: str | None = None


@dataclass(frozen=True)
class ImageReport:
    """The outcome for one input image: its faces (possibly none) or the error that stopped it."""

    path: str
    faces: tuple[Any, ...]
    error: str | None = None
    dropped: tuple[Any, ...] | None = None  # boxes the face checks dropped, when asked (--show-dropped)

    def to_dict(self, readout: Readout | None = None) -> dict[str, Any]:
        """JSON form ``{"path", "faces": [{"face": 1, ...}, ...], "error"}`` (``face`` is the number drawn on it), plus ``"dropped": [...]`` when asked for; each
        face adds what ``readout`` says (:mod:`core.readout`)."""
        readout = readout or Readout()
        faces = [
            {"face": number, **face.to_dict(), **readout.face_dict(face.probabilities)}
            for number, face in enumerate(self.faces, start=1)
        ]
        out = {"path": self.path, "faces": faces, "error": self.error}
        if self.dropped is not None:
            out["dropped"] = [box.to_dict() for box in self.dropped]
        return out


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
    from core.detection import DETECTORS  # noqa: PLC0415 - cheap; keeps --help light
    from core.imageio import SUPPORTED_EXTENSIONS  # noqa: PLC0415
    from core.pipeline import STILL_DETECTOR  # noqa: PLC0415

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
    add(
        "--detector", choices=tuple(DETECTORS), default=None,
        help=f"face detector (default {STILL_DETECTOR}, at several scales)",
    )  # fmt: skip
    add_model_option(predict)
    add("--crops", action="store_true", help="each image is already one face crop: skip detection")
    add("--annotate", type=Path, metavar="DIR", help="write annotated PNG copies into DIR")
    add(
        "--explain", type=Path, metavar="DIR",
        help="write one PNG per face into DIR: the face and its occlusion saliency map (what made the model say "
        "its emotion; docs/saliency.md), named IMAGE.face-N.why.png",
    )  # fmt: skip
    add("--explain-emotion", choices=EMOTIONS, metavar="EMOTION", help="with --explain: explain this emotion instead")
    add("--min-face-size", type=_positive_int, metavar="N", help="ignore faces smaller than N pixels")
    add(
        "--small-faces", action="store_true",
        help="YuNet only: also look at a large photo at its own resolution, in tiles, for faces down to about "
        "20 px (several times slower on a 12-megapixel photo)",
    )  # fmt: skip
    add(
        "--show-dropped", action="store_true",
        help="JSON only: also list, per image, the boxes the face checks dropped (animals, repeats) and why",
    )  # fmt: skip
    add("--margin", type=_non_negative_float, metavar="F", help="crop margin, a fraction of the face box (default 0.1)")
    add(
        "--tta", nargs="?", const="flip", default=None, choices=TTA_MODES,
        help="test-time augmentation (default: the model's own choice, as in the app): none; flip (when given "
        "alone) averages each face with its mirror; tencrop averages ten crops (slower, steadier)",
    )
    add_groups_argument(predict)
    add("--quiet", action="store_true", help="no progress bar on stderr")
    predict.set_defaults(run=lambda args: run_predict(args, parser=predict))
    return predict


_positive_int = number_type(int, minimum=1, what="a whole number of pixels")
_non_negative_float = number_type(float, minimum=0, what="a number such as 0.1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.run(args)


def run_predict(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    """Run the ``predict`` command on parsed arguments; returns the exit status (``parser`` reports misuse)."""
    if args.crops and (args.detector is not None or args.min_face_size is not None or args.small_faces):
        parser.error("--crops skips face detection; do not combine it with --detector, --min-face-size or --small-faces")
    if args.show_dropped and (args.crops or args.format != "json"):
        parser.error("--show-dropped adds to the JSON output of face detection; it needs --format json and no --crops")
    if args.explain_emotion is not None and args.explain is None:
        parser.error("--explain-emotion says which emotion --explain DIR explains: give --explain DIR too")
    if args.small_faces and args.detector not in (None, "yunet"):
        parser.error(f"--small-faces is YuNet's; the {args.detector} detector has no such pass")
    return _predict(args)


def build_recognizer(
    *,
    model: str | None = None,
    detector: str | None = None,
    crops: bool = False,
    min_face_size: int | None = None,
    small_faces: bool = False,
    margin: float | None = None,
    tta: str | None = None,
    detector_options: dict[str, Any] | None = None,
) -> Any:
    """The recognizer ``predict`` uses for these options (``None``: the photo default's choice).

    ``tta`` ``None`` takes the model's own choice, as the app does. ``detector_options`` are passed
    to the detector beside ``min_face_size`` and ``small_faces`` (e.g. ``{"min_score": 0.8}``).

    Raises:
        ModelLoadError: the model cannot be used.
        ValueError, TypeError: a bad detector option.
    """
    from core.detection import get_detector  # noqa: PLC0415
    from core.pipeline import STILL_DETECTOR, model_tta, still_detector  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    options: dict[str, Any] = dict(detector_options or {})
    if min_face_size is not None:
        options["min_face_size"] = min_face_size
    if small_faces:
        options["small_faces"] = True
    if crops:
        chosen = None
    elif detector in (None, STILL_DETECTOR):
        chosen = still_detector(**options)
    else:
        chosen = get_detector(detector, **options)
    extra: dict[str, Any] = {}
    if chosen is not None:
        extra["detector"] = chosen
    if margin is not None:
        extra["margin"] = margin
    recognizer = EmotionRecognizer.from_dir(model, **extra)
    recognizer.tta = tta if tta is not None else model_tta(recognizer.metadata)
    return recognizer


def _predict(args: argparse.Namespace) -> int:
    try:
        recognizer = build_recognizer(
            model=args.model, detector=args.detector, crops=args.crops, min_face_size=args.min_face_size,
            small_faces=args.small_faces, margin=args.margin, tta=args.tta,
        )  # fmt: skip
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


def write_csv(reports: Sequence[ImageReport], stream: TextIO, *, readout: Readout | None = None) -> None:
    """One row per face, ``face`` numbered from 1 as drawn; an image with no face or an error still gets one row
    (``face`` left empty).

    Columns: :data:`CSV_COLUMNS`, with ``readout``'s group columns before ``error`` when it has a grouping.
    """
    readout = readout or Readout()
    columns = (*CSV_COLUMNS[:-1], *readout.group_columns(), CSV_COLUMNS[-1])
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for report in reports:
        for row in report_rows(report, readout=readout):
            writer.writerow(["" if row[name] is None else row[name] for name in columns])


def report_rows(report: ImageReport, *, ndigits: int | None = 6, readout: Readout | None = None) -> list[dict[str, Any]]:
    """The :data:`CSV_COLUMNS` rows of one image (plus ``readout``'s group columns), ``None`` where a cell is empty.

    One row per face, ``face`` numbered from 1 as drawn; an image with no face or an error is one row
    with ``face`` ``None``.

    Args:
        ndigits: round floats to this many decimals (``None`` keeps full precision).
        readout: the uncertainty rule for the flag columns (the default rule when ``None``) and, with a
            grouping, the group columns.
    """
    readout = readout or Readout()
    columns = (*CSV_COLUMNS[:-1], *readout.group_columns(), CSV_COLUMNS[-1])
    if not report.faces:
        return [{**dict.fromkeys(columns), "path": report.path, "error": report.error}]
    rows = []
    for index, face in enumerate(report.faces, start=1):
        data = face.to_dict(ndigits=ndigits)
        flag = readout.rule.assess(face.probabilities)
        points = data.get("landmarks")
        coords = [v for point in points for v in point] if points else [None] * len(LANDMARK_COLUMNS)
        cells = [
            report.path, index, *data["box"], data["emotion"], data["confidence"],
            *(data["probabilities"][name] for name in EMOTIONS),
            data["detection_score"], *coords, flag.flag, flag.label,
            *readout.group_cells(face.probabilities), report.error,
        ]  # fmt: skip
        rows.append(dict(zip(columns, cells)))
    return rows


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
