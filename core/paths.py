"""Where the app keeps files it can rebuild: its disk cache folder.

The folder holds only what can be made again from other files (e.g. the parsed FER2013 splits, see
:func:`training.data.load_fer2013`); deleting it is always safe, and the next use rebuilds what is
needed. Nothing here creates the folder: the code that writes there does, and carries on without
the cache when it cannot (a read-only home on a deployment).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "FER_CACHE_DIR"
"""Environment variable that names the app's cache folder (tests, deployments)."""
CACHE_NAME = "facial-emotion"
"""The app's folder inside the user's cache folder."""
DATASET_CACHE = "datasets"
"""The folder of the app's cache folder that holds parsed datasets (:func:`dataset_cache_dir`)."""


def app_cache_dir() -> Path | None:
    """The app's disk cache folder, or ``None`` when there is none (no home folder and nothing set).

    ``$FER_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/facial-emotion``, else
    ``~/.cache/facial-emotion``. The folder may not exist yet, and may not be writable.
    """
    value = os.environ.get(CACHE_DIR_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    xdg = Path(os.environ.get("XDG_CACHE_HOME", "").strip()).expanduser()
    # The XDG spec ignores a relative (or empty) $XDG_CACHE_HOME: it would depend on the working directory.
    if xdg.is_absolute():
        return xdg / CACHE_NAME
    try:
        return Path.home() / ".cache" / CACHE_NAME
    except (RuntimeError, KeyError):  # no $HOME and no password entry (some containers)
        return None


def dataset_cache_dir() -> Path | None:
    """Where parsed datasets are kept between runs: ``datasets/`` of :func:`app_cache_dir`.

    ``None`` when there is no cache folder (no home folder): a dataset is then parsed in every process.
    """
    root = app_cache_dir()
    return None if root is None else root / DATASET_CACHE
