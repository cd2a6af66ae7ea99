"""The files of a run's ``checkpoint/`` folder: their names, and how they are written and pruned.

    OUT/checkpoint/state.json          the run's state (recipe, history, best epoch) naming the files below
    OUT/checkpoint/last-NNN.keras      the whole training model after epoch NNN (to resume)
    OUT/checkpoint/best-NNN.keras      the served model of the best epoch so far
    OUT/checkpoint/epoch-NNN.keras     with ``--snapshots``: the served model of every epoch

Files are written under new names first, then the state that names them, then the files no state
names go (:func:`remove_stale_checkpoints`): a run killed anywhere in between resumes from a state
and files that belong together. :mod:`training.checkpoint` keeps compact copies of these folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHECKPOINT_DIR = "checkpoint"
"""The folder, inside a run's output folder, that holds its checkpoint."""
STATE_FILE = "state.json"
"""The checkpoint's state, written last: the files it names are the checkpoint."""


def checkpoint_file(state: dict[str, Any], kind: str) -> str:
    """The checkpoint file of ``kind`` (``best`` or ``last``) a state names; older runs used fixed names."""
    return str(state.get(f"{kind}_file") or f"{kind}.keras")


def remove_stale_checkpoints(ckpt_dir: Path, state: dict[str, Any]) -> None:
    """Remove the best and last model files (and compact weights) in ``ckpt_dir`` that ``state`` does not name."""
    keep = {checkpoint_file(state, "best"), checkpoint_file(state, "last")}
    # A compact copy's weights (training.checkpoint) are stale once the run has checkpointed again.
    stale = [*ckpt_dir.glob("best*.keras"), *ckpt_dir.glob("last*.keras"), *ckpt_dir.glob("*.f16.npz")]
    for path in stale:
        if path.name not in keep:
            path.unlink(missing_ok=True)


def snapshot_name(epoch: int) -> str:
    """File name, inside a run's ``checkpoint/``, of the served model as it was after ``epoch``."""
    return f"epoch-{epoch:03d}.keras"


def save_atomic(model: Any, path: Path) -> None:
    """Save the Keras ``model`` to ``path`` under a temporary name first, then rename it: never half a file.

    Raises:
        OSError: the file cannot be written (nothing is left behind).
    """
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
