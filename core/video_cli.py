"""Command line: ``python -m core video CLIP [CLIP ...]``, a per-face emotion timeline of video files.

Output goes to stdout as JSON (one object per clip: info, timeline, summary) or CSV (one row per
analysed frame and face; a frame without a face is a row with ``face`` empty). Progress and, for
CSV, the per-face summary go to stderr. Exit status: 0 all clips read, 1 some clip could not be
read (see its ``error``), 2 bad usage or model.

It registers with :mod:`core.cli` through :func:`register` (listed in :data:`core.cli.SUBCOMMANDS`)
and shares its helpers through :mod:`core.cli_common`; it never imports :mod:`core.cli`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from core.cli_common import (
    EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, add_detector_options, add_model_option, add_tta_option,
    add_video_options, isatty, number_type, photo_options, unique_name,
)  # fmt: skip
from core.groups import Grouping
from core.readout import add_groups_argument, model_readout

ANNOTATED_SUFFIX = ".annotated.mp4"


def register(commands: Any) -> argparse.ArgumentParser:
    """Add the ``video`` command to a ``python -m core`` subparsers object, with :func:`run` as its ``run``."""
    from core.video import ANALYSIS_MAX_SIDE, VIDEO_EXTENSIONS  # noqa: PLC0415

    parser = commands.add_parser(
        "video",
        help="a per-face emotion timeline of video files",
        description=(
            f"Track faces through video clips ({', '.join(VIDEO_EXTENSIONS)} and anything else FFmpeg reads) "
            "and classify their emotions frame by frame. Exit status: 0 all clips read, 1 some could not be "
            "read (see their 'error'), 2 bad arguments or model."
        ),
    )
    add = parser.add_argument
    add("clips", nargs="+", metavar="CLIP", help="video file")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--every", type=_positive_int, metavar="N", help="analyse every Nth frame (default 1)")
    add_video_options(parser, fps_group=sampling)
    add("--format", choices=("json", "csv"), default="json", help="output format on stdout (default json)")
    add(
        "--annotate", type=Path, metavar="OUT.mp4",
        help="write an H.264 MP4 with boxes, ids and labels (with several clips: a folder for CLIP.annotated.mp4)",
    )  # fmt: skip
    add_model_option(parser)
    add_detector_options(parser, small_faces=False)
    add_tta_option(parser)
    add(
        "--max-side", type=_positive_int, default=ANALYSIS_MAX_SIDE, metavar="N",
        help=f"shrink larger frames to this long side before detection (default {ANALYSIS_MAX_SIDE})",
    )  # fmt: skip
    add(
        "--max-gap", type=_non_negative_float, default=3.0, metavar="SECONDS",
        help="a face gone for up to this long gets its id back when it reappears nearby (default 3)",
    )  # fmt: skip
    add_groups_argument(parser)
    add("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=lambda args: run(args, parser=parser))
    return parser


_positive_int = number_type(int, minimum=1, what="a whole number")
_non_negative_float = number_type(float, minimum=0, what="a number such as 3")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m core video ...`` on its own; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m core")
    video = register(parser.add_subparsers(dest="command"))
    return run(parser.parse_args(["video", *(sys.argv[1:] if argv is None else argv)]), parser=video)


def run(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    """Run the ``video`` command on parsed arguments; returns the exit status (``parser`` reports misuse)."""
    from core.errors import ModelLoadError  # noqa: PLC0415
    from core.factory import build_recognizer  # noqa: PLC0415

    options = photo_options(args, parser)
    try:
        targets = annotate_targets(args.clips, args.annotate)
        # The same recognizer and detector as predict for the same options.
        recognizer = build_recognizer(options)
        tta = recognizer.tta
    except (ModelLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    reports = []
    for clip, target in zip(args.clips, targets):
        reports.append(
            analyse_clip(
                clip, recognizer, tta=tta, every=args.every, fps=args.fps, smooth_s=args.smooth,
                max_gap_s=args.max_gap, max_side=args.max_side, annotate_to=target,
                stream=None if args.quiet else sys.stderr,
            )
        )  # fmt: skip
    readout = model_readout(recognizer, args.groups)
    if args.format == "csv":
        write_csv(reports, sys.stdout, smoothed=args.smooth is not None, readout=readout)
        if not args.quiet:
            write_summary_text(reports, sys.stderr, grouping=readout.grouping)
    else:
        json.dump([_report_dict(r, readout) for r in reports], sys.stdout, indent=2)
        sys.stdout.write("\n")
    sys.stdout.flush()
    return EXIT_SOME_FAILED if any(r[1] is not None for r in reports) else EXIT_OK


def annotate_targets(clips: Sequence[str], annotate: Path | None) -> list[Path | None]:
    """Where each clip's annotated MP4 goes: ``OUT.mp4`` for one clip, ``OUT/CLIP.annotated.mp4`` for several.

    Raises:
        ValueError: one clip and an OUT that is neither a folder nor an ``.mp4`` file name.
    """
    if annotate is None:
        return [None] * len(clips)
    if len(clips) == 1 and not annotate.is_dir():
        if annotate.suffix.lower() != ".mp4":
            raise ValueError(f"--annotate writes an MP4 file: give a name ending in .mp4, got {annotate}")
        if not annotate.parent.is_dir():
            raise ValueError(f"--annotate: folder not found: {annotate.parent}")
        if annotate.exists() and annotate.resolve() == Path(clips[0]).resolve():
            raise ValueError(f"--annotate would overwrite the clip itself: {annotate}")
        return [annotate]
    annotate.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    out: list[Path | None] = []
    for clip in clips:
        out.append(annotate / unique_name(Path(clip).stem or "video", ANNOTATED_SUFFIX, used))
    return out


def analyse_clip(clip: str, recognizer: Any, *, stream: TextIO | None, **options: Any) -> tuple[str, str | None, Any]:
    """``(clip, error, analysis)``: the analysis, or the error message that stopped it."""
    from core.errors import FERError  # noqa: PLC0415
    from core.video import analyse_video  # noqa: PLC0415

    bar = _Progress(clip, stream)
    try:
        analysis = analyse_video(clip, recognizer, progress=bar.update, **options)
    except FERError as exc:
        bar.close(f"error: {exc}")
        return clip, str(exc), None
    bar.close(
        f"{analysis.frames_analysed} frames analysed in {analysis.elapsed_s:.1f} s "
        f"({analysis.frames_analysed / max(analysis.elapsed_s, 1e-9):.1f} frames/s), {len(analysis.summary)} face(s)"
    )
    return clip, None, analysis


def _report_dict(report: tuple[str, str | None, Any], readout: Any = None) -> dict[str, Any]:
    clip, error, analysis = report
    body = analysis.to_dict(readout=readout) if analysis is not None else {"timeline": [], "summary": []}
    return {"clip": clip, **body, "error": error}


def write_csv(
    reports: Sequence[tuple[str, str | None, Any]], stream: TextIO, *, smoothed: bool = False, readout: Any = None
) -> None:
    """One row per analysed frame and face, after a ``clip`` column; a failed clip is one row with its ``error``.

    With a ``readout`` that has a grouping (``--groups``), its group columns come before ``error``.
    """
    from core.readout import Readout  # noqa: PLC0415
    from core.video import SMOOTHED_COLUMNS, TIMELINE_COLUMNS, counted_probabilities, flat_row  # noqa: PLC0415

    readout = readout or Readout()
    columns = ("clip", *TIMELINE_COLUMNS, *(SMOOTHED_COLUMNS if smoothed else ()), *readout.group_columns(), "error")
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for clip, error, analysis in reports:
        if analysis is None:
            writer.writerow([clip, *([""] * (len(columns) - 2)), error])
            continue
        for row in analysis.rows:
            groups = readout.group_cells(counted_probabilities(row, smoothed=smoothed))
            writer.writerow([clip, *flat_row(row, smoothed=smoothed), *groups, ""])


def write_summary_text(
    reports: Sequence[tuple[str, str | None, Any]], stream: TextIO, *, grouping: Grouping | None = None
) -> None:  # fmt: skip
    """Per clip and face: seconds seen, the main emotions' (or groups') shares, and how many segments."""
    from core.video import face_summaries  # noqa: PLC0415

    for clip, _error, analysis in reports:
        if analysis is None:
            continue
        if not analysis.summary:
            stream.write(f"{clip}: no face found\n")
        for face in face_summaries(analysis, grouping):
            shares = sorted(face.shares.items(), key=lambda kv: -kv[1])
            top = ", ".join(f"{name} {share:.0%}" for name, share in shares if share >= 0.05)
            stream.write(f"{clip}: face {face.face}: {face.seconds:.1f} s, {top}; {len(face.segments)} segment(s)\n")
    stream.flush()


class _Progress:
    """``name  [#####-----] 12.0/60.0 s  24 frames/s  eta 40 s`` on stderr, redrawn in place on a terminal."""

    def __init__(self, label: str, stream: TextIO | None, *, width: int = 24) -> None:
        self.label = label if len(label) <= 40 else "..." + label[-37:]
        self.stream = stream
        self.tty = stream is not None and isatty(stream)
        self.width = width
        self._last_drawn = -1.0
        self._next_mark = 0.1

    def update(self, progress: Any) -> None:
        if self.stream is None:
            return
        if not self.tty:
            # A log, not a terminal: one line per tenth of the clip instead of a redrawn bar.
            if progress.fraction is not None and progress.fraction >= self._next_mark:
                self._next_mark = math.floor(progress.fraction * 10 + 1e-9) / 10 + 0.1
                rate = progress.frames_analysed / max(progress.elapsed_s, 1e-9)
                eta = "" if progress.eta_s is None else f", eta {progress.eta_s:.0f} s"
                self.stream.write(f"{self.label}: {progress.fraction:.0%} ({progress.time_s:.1f} s), {rate:.1f} frames/s{eta}\n")
                self.stream.flush()
            return
        if progress.elapsed_s - self._last_drawn < 0.2:
            return
        self._last_drawn = progress.elapsed_s
        fraction = progress.fraction or 0.0
        filled = round(self.width * fraction)
        rate = progress.frames_analysed / max(progress.elapsed_s, 1e-9)
        eta = "" if progress.eta_s is None else f"  eta {progress.eta_s:.0f} s"
        self.stream.write(
            f"\r{self.label}  [{'#' * filled}{'-' * (self.width - filled)}] {progress.time_s:.1f} s  "
            f"{rate:.1f} frames/s{eta}   "
        )
        self.stream.flush()

    def close(self, message: str) -> None:
        if self.stream is None:
            return
        prefix = "\r" if self.tty and self._last_drawn >= 0 else ""
        self.stream.write(f"{prefix}{self.label}: {message}\n")
        self.stream.flush()
