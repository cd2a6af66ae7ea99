"""What every ``python -m core`` subcommand shares: exit statuses, option types, detector choice, file names.

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
from typing import Any, TextIO

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


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model``: a model directory or a name under ``models/``, the same for every command."""
    from core.model_store import DEFAULT_MODEL_NAME, ROLES_FILE  # noqa: PLC0415

    parser.add_argument(
        "--model", metavar="PATH_OR_NAME",
        help=f"model directory, or a name under models/ (default: the default model that models/{ROLES_FILE} "
        f"names, else models/{DEFAULT_MODEL_NAME})",
    )  # fmt: skip


def make_detector(name: str | None, **options: Any) -> Any:
    """The detector ``--detector name`` asks for; ``None`` (or the photo default's name): the photo default.

    Raises:
        ValueError: an unknown detector or a bad option.
    """
    from core.detection import get_detector  # noqa: PLC0415 - keeps --help light
    from core.pipeline import STILL_DETECTOR, still_detector  # noqa: PLC0415

    if name in (None, STILL_DETECTOR):
        return still_detector(**options)
    return get_detector(name, **options)


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
