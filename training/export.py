"""Add a LiteRT ``.tflite`` file to an existing model directory.

    python -m training.export models/fast

Models saved by ``training.train`` already have one; this is for models saved before the export
existed, or whose export failed (``tflite_error`` in their metadata). The ``.keras`` file is left
as it is; the new file and its checksum are named in ``metadata.json``, replaced atomically. A
running app keeps serving what it loaded until it is restarted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.errors import FERError
from core.model_store import add_tflite, read_model_info, resolve_model_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.export",
        description="Export a model directory's .keras file to a dynamic-range int8 .tflite for LiteRT serving.",
    )
    parser.add_argument("model", help="model directory path, or a model name under models/")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = resolve_model_dir(args.model)
    if not path.is_dir():
        print(f"error: model directory not found: {path}", file=sys.stderr)
        return 2
    try:
        tflite_path = add_tflite(path)
    except FERError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    metadata = read_model_info(path).metadata
    size_kib = tflite_path.stat().st_size / 1024
    print(f"wrote {tflite_path} ({size_kib:.0f} KiB, {metadata.get('tflite_quantization')}); metadata.json names it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
