"""Silence what native libraries write to the process's stderr, for the command line's ``--quiet``.

LiteRT prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` when it builds an
interpreter, and TensorFlow (MTCNN runs on it) its start-up lines when it is imported. Both come
from C++, straight to file descriptor 2, past Python's ``sys.stderr``: only pointing descriptor 2
elsewhere silences them. :func:`native_stderr_silenced` does that for the length of a block, while
what Python itself writes to ``sys.stderr`` (error messages, warnings) still reaches the terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
"""TensorFlow's C++ log threshold, read when it is imported; 3 keeps errors to its exceptions."""


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """While the block runs, send what native code writes to file descriptor 2 to the null device.

    Python's own writes keep their destination: when ``sys.stderr`` writes to descriptor 2 it is
    replaced for the block by a stream on a copy of the original descriptor; any other
    ``sys.stderr`` (a test's capture, a file) is left as it is. ``TF_CPP_MIN_LOG_LEVEL`` is 3 for
    the block unless already set. Everything is restored afterwards, also when the block raises;
    a crash of native code inside the block loses its message.

    Args:
        enabled: ``False`` makes this a no-op, so ``with native_stderr_silenced(args.quiet):`` reads
            as the option it serves.
    """
    if not enabled:
        yield
        return
    _flush(sys.stderr)
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all (a service started without one): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    python_stderr = sys.stderr
    replacement: TextIO | None = None
    level = os.environ.get(TF_LOG_LEVEL)
    try:
        if _writes_to_descriptor_2(python_stderr):
            replacement = open(  # noqa: SIM115 - closed below, after the block
                os.dup(saved), "w", buffering=1, encoding=getattr(python_stderr, "encoding", None) or "utf-8",
                errors="backslashreplace",
            )  # fmt: skip
            sys.stderr = replacement
        if level is None:
            os.environ[TF_LOG_LEVEL] = "3"
        os.dup2(devnull, 2)
        yield
    finally:
        if replacement is not None:
            _flush(replacement)
            sys.stderr = python_stderr
            replacement.close()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        if level is None:
            os.environ.pop(TF_LOG_LEVEL, None)


def _writes_to_descriptor_2(stream: Any) -> bool:
    try:
        return stream is not None and stream.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _flush(stream: Any) -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream.flush()
