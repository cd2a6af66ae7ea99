"""Where the real FER2013 and FER+ files are, from ``FER2013_PATH`` and ``FERPLUS_PATH`` only (CI sets both).

Tests that need them skip with :data:`SKIP_REASON` when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.dataset_view import FERPLUS_ENV, locate_dataset, locate_ferplus

_found = locate_dataset(env=os.environ.get("FER2013_PATH"), candidates=())
REAL_FER2013: Path | None = _found.path if _found.found and _found.path.is_file() else None
REAL_FERPLUS: Path | None = locate_ferplus(env=os.environ.get(FERPLUS_ENV), dataset=REAL_FER2013)
SKIP_REASON = "the real FER2013 is not here: set FER2013_PATH to fer2013.csv(.gz) or the folder holding it"
