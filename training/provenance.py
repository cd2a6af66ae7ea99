"""What a saved model records about where it came from: the machine, paths that travel, the time.

Shared by every routine that writes a model's ``metadata.json`` (:mod:`training.train`,
:mod:`training.adapt`); it imports Keras only when :func:`hardware` is called.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def hardware() -> dict[str, Any]:
    """The machine and libraries a model was trained with: architecture, cores, Python, Keras and its
    backend, and the backend's devices when it can list them (informative only: never raises for them)."""
    import keras  # noqa: PLC0415

    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
    }
    try:
        if info["backend"] == "jax":
            import jax  # noqa: PLC0415

            info["devices"] = [str(d.device_kind) for d in jax.devices()]
        elif info["backend"] == "tensorflow":
            import tensorflow as tf  # noqa: PLC0415

            info["devices"] = [d.device_type for d in tf.config.list_physical_devices()]
    except Exception:  # device listing is informative only
        pass
    return info


def portable_path(path: str | Path) -> str:
    """``path`` relative to the working folder when inside it, else its last part: what metadata keeps
    (never a machine's absolute path)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return Path(path).name


def now() -> str:
    """The current time in UTC, ISO 8601 to the second, as metadata and checkpoint states record it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
