"""What every ``python -m core`` subcommand and ``python -m batch`` share: exit statuses, option types, the
options that choose the model and the detector (one definition each, read into one
:class:`core.pipeline.PhotoOptions` by :func:`photo_options`), file names.

:mod:`core.cli` (the entry point and ``predict``) and each subcommand module (:mod:`core.video_cli`...)
import this module; subcommand modules never import :mod:`core.cli`. A subcommand module has one
function, ``register(commands)``, that adds its parser to the subparsers object it is given and sets
``run`` (parsed arguments to an exit status) as that parser's default; :data:`core.cli.SUBCOMMANDS`
lists the modules.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from core.pipeline import PhotoOptions

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def number_type(kind: type, *, minimum: float, strict: bool = False, what: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses ``kind`` (int or float) and keeps it finite and at least ``minimum``.

    Args:
        strict: the value must be greater than ``minimum``, not equal to it.
        what: how the error names the expected value, e.g. ``"a number such as 0.1"``.
    """

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and (value > minimum if strict else value >= minimum)):
            bound = f"at least {minimum:g}" if kind is int else f"{'>' if strict else '>='} {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def score_type(text: str) -> float:
    """An argparse ``type=`` for a detection score within 0..1."""
    value = number_type(float, minimum=0, what="a score such as 0.8")(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {text}")
    return value


_positive_int = number_type(int, minimum=1, what="a whole number of pixels")
_positive_float = number_type(float, minimum=0, strict=True, what="a number such as 0.5")


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model``: a model directory or a name under ``models/``, the same for every command."""
    from core.model_store import DEFAULT_MODEL_NAME, ROLES, ROLES_FILE  # noqa: PLC0415

    parser.add_argument(
        "--model", metavar="PATH_OR_NAME",
        help=f"model directory, or a name under models/ (default: the model models/{ROLES_FILE} names for "
        f"{ROLES['default']}, else models/{DEFAULT_MODEL_NAME})",
    )  # fmt: skip


def add_detector_options(parser: argparse.ArgumentParser, *, small_faces: bool = True) -> None:
    """``--detector``, ``--min-score``, ``--min-face-size``, ``--no-verify`` and (``small_faces``) ``--small-faces``."""
    from core.detection import DETECTORS  # noqa: PLC0415 - cheap; keeps --help light
    from core.pipeline import STILL_DETECTOR, default_min_score  # noqa: PLC0415

    add = parser.add_argument
    add(
        "--detector", choices=tuple(DETECTORS), default=None,
        help=f"face detector (default {STILL_DETECTOR}, at several scales; blazeface is several times faster)",
    )  # fmt: skip
    own = ", ".join(f"{name} {default_min_score(name):g}" for name in DETECTORS)
    add(
        "--min-score", type=score_type, metavar="S",
        help=f"keep faces the detector scores at least S, 0..1 (default: the detector's own: {own}); the "
        "detector itself applies it, so a lower S finds less sure faces, as the app's minimum face confidence",
    )  # fmt: skip
    add("--min-face-size", type=_positive_int, metavar="N", help="ignore faces smaller than N pixels")
    add(
        "--no-verify", dest="verify", action="store_false",
        help="keep every box the detector finds: without it, boxes it is not sure of get a second look from the "
        "face verifier (MTCNN's O-Net), which drops animals and objects (--show-dropped says which)",
    )  # fmt: skip
    if small_faces:
        add(
            "--small-faces", action="store_true",
            help="YuNet only: also look at a large photo at its own resolution, in tiles, for faces down to about "
            "20 px (several times slower on a 12-megapixel photo)",
        )  # fmt: skip


def add_tta_option(parser: argparse.ArgumentParser) -> None:
    """``--tta [MODE]``: the model's own choice by default; ``flip`` when given alone."""
    from core.preprocess import TTA_MODES  # noqa: PLC0415

    parser.add_argument(
        "--tta", nargs="?", const="flip", default=None, choices=TTA_MODES,
        help="test-time augmentation (default: the model's own choice, as in the app): none; flip (when given "
        "alone) averages each face with its mirror; tencrop averages ten crops (slower, steadier)",
    )  # fmt: skip


def add_crops_option(parser: argparse.ArgumentParser) -> None:
    """``--crops``: each image is one face already."""
    parser.add_argument("--crops", action="store_true", help="each image is already one face crop: skip detection")


DEFAULT_SMOOTH_S = 0.5


def add_video_options(parser: argparse.ArgumentParser, *, fps_group: Any = None) -> None:
    """``--fps`` (into ``fps_group`` when given, e.g. a mutually exclusive group) and ``--smooth [SECONDS]``."""
    (fps_group or parser).add_argument(
        "--fps", type=_positive_float, metavar="F", help="videos: analyse at most F frames per second (default: every frame)"
    )
    parser.add_argument(
        "--smooth", type=_positive_float, nargs="?", const=DEFAULT_SMOOTH_S, metavar="SECONDS",
        help=f"videos: also average each face's probabilities over time (time constant, {DEFAULT_SMOOTH_S} s when "
        "given alone); adds smoothed_* columns beside the raw ones",
    )  # fmt: skip


def photo_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> PhotoOptions:
    """The :class:`core.pipeline.PhotoOptions` of parsed arguments; ``parser`` reports a combination that makes no sense.

    Reads ``--model``, ``--tta`` and the detector options, and ``--crops``, ``--small-faces`` and
    ``--margin`` where the command has them.
    """
    from core.pipeline import PhotoOptions, STILL_DETECTOR  # noqa: PLC0415

    crops = getattr(args, "crops", False)
    small_faces = getattr(args, "small_faces", False)
    verify = getattr(args, "verify", True)
    if crops and (
        args.detector is not None or args.min_score is not None or args.min_face_size is not None or small_faces or not verify
    ):
        parser.error(
            "--crops skips face detection; do not combine it with --detector, --min-score, --min-face-size, "
            "--small-faces or --no-verify"
        )
    if small_faces and args.detector not in (None, STILL_DETECTOR):
        parser.error(f"--small-faces is YuNet's; the {args.detector} detector has no such pass")
    return PhotoOptions(
        model=args.model, detector=args.detector, min_score=args.min_score, min_face_size=args.min_face_size,
        small_faces=small_faces, tta=args.tta, margin=getattr(args, "margin", None), crops=crops, verify=verify,
    )  # fmt: skip


def unique_name(stem: str, suffix: str, used: set[str]) -> str:
    """``stem + suffix``, or with ``-2``, ``-3``... before the suffix while ``used`` has it (case-blind).

    The name returned is added to ``used``.
    """
    name = f"{stem}{suffix}"
    counter = 2
    while name.lower() in used:
        name = f"{stem}-{counter}{suffix}"
        counter += 1
    used.add(name.lower())
    return name


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (``False`` for a closed or fake stream)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
