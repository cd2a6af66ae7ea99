"""The app's pages: one declaration that ``Home.py`` turns into ``st.navigation`` and the home page lists.

The page list is the permission list: a page a person may not use is left out of it (and refuses
on its own when reached by URL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent


class PageSpec(NamedTuple):
    """One page of the app."""

    path: str
    title: str
    icon: str
    section: str
    blurb: str
    default: bool = False
    owner_only: bool = False


HOME = PageSpec("pages/home.py", "Home", ":material/home:", "", "What the app does and the selected model's card.", True)
PAGES: tuple[PageSpec, ...] = (
    HOME,
    PageSpec("pages/1_Upload_and_predict.py", "Upload and predict", ":material/photo_camera:", "Analyse",
             "Several photos at once: boxes, labels and all seven probabilities per face; JSON, CSV and PNG downloads."),
    PageSpec("pages/2_Live_webcam.py", "Live webcam", ":material/videocam:", "Analyse",
             "Labels on your live video, smoothed across frames, the emotion mix of the last seconds, and a recording."),
    PageSpec("pages/6_Video.py", "Video", ":material/movie:", "Analyse", "A video clip: every face tracked over time, its emotion timeline and summary, and an annotated copy."),
    PageSpec("pages/3_Dataset_browser.py", "Dataset browser", ":material/grid_view:", "Data and models",
             "FER2013's classes per split, its faces page by page, and what training augmentation does to them."),
    PageSpec("pages/4_Evaluation.py", "Evaluation", ":material/monitoring:", "Data and models",
             "Confusion matrix, per-class scores, calibration, model against model, and the faces it gets wrong."),
    PageSpec("pages/5_Training.py", "Training", ":material/model_training:", "Train",
             "Train a new model in the background with live curves; it joins the model selector when done.",
             owner_only=True),
)  # fmt: skip


def pages_for(*, owner: bool, pages: tuple[PageSpec, ...] = PAGES) -> tuple[PageSpec, ...]:
    """The pages a person may use: every page for the owner, those not ``owner_only`` for a visitor."""
    return tuple(page for page in pages if owner or not page.owner_only)


LINKS_PER_ROW = 3
"""Page links side by side on the Home page: at 1400 px each gets about 300 px, room for its whole label."""


def link_rows(pages: tuple[PageSpec, ...] | list[PageSpec], *, per_row: int = LINKS_PER_ROW) -> list[list[PageSpec]]:
    """``pages`` in rows of at most ``per_row``, in order (the Home page's grid of links).

    Raises:
        ValueError: ``per_row`` is less than 1.
    """
    if per_row < 1:
        raise ValueError(f"per_row must be at least 1, got {per_row}")
    pages = list(pages)
    return [pages[start:start + per_row] for start in range(0, len(pages), per_row)]


def sections(pages: tuple[PageSpec, ...] = PAGES) -> dict[str, list[PageSpec]]:
    """Pages grouped by section, in declaration order (``""``: the top, without a header)."""
    grouped: dict[str, list[PageSpec]] = {}
    for page in pages:
        grouped.setdefault(page.section, []).append(page)
    return grouped


def st_page(page: PageSpec) -> Any:
    """The ``st.Page`` of ``page`` (also what ``st.page_link`` takes to link to it).

    The path is absolute, so the pages resolve wherever the entry script runs from.
    """
    import streamlit as st  # noqa: PLC0415

    return st.Page(REPO_ROOT / page.path, title=page.title, icon=page.icon, default=page.default)


def navigation(pages: tuple[PageSpec, ...] = PAGES) -> Any:
    """``st.navigation`` over ``pages``, grouped in sections with icons; call ``.run()`` on the result."""
    import streamlit as st  # noqa: PLC0415

    return st.navigation({section: [st_page(p) for p in group] for section, group in sections(pages).items()})
