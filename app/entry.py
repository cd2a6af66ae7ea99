"""The app's entry: page configuration, the navigation a person may use and the shared sidebar.

``Home.py`` runs :func:`run_app` on every rerun. Every page calls :func:`through_entry` first: a
page must never run without it. Streamlit does run one without it in one case: while no script of
the process has called ``st.navigation`` yet (the first visit after the server starts), it treats a
``pages/`` folder next to the entry script as its legacy multipage app, and a first visit that opens
a page's URL (a shared link to ``/Video``, say) runs that page file alone: no wide layout, no model
selector, and the legacy sidebar listing every file of ``pages/``. :func:`through_entry` sees that
and runs the app through the entry instead, which shows the same page as it should be.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from app import navigation, ui

_state = threading.local()  # each session's script runs in its own thread


def run_app(*, page_file: str | Path | None = None) -> None:
    """Configure the page, build the navigation for this person, draw the sidebar, run the page.

    ``page_file``: the page that was run alone (:func:`through_entry`). When the navigation chose
    another page for this run (no URL named one, as in a test harness running the file), the app
    switches to that page if this person may use it.
    """
    st.set_page_config(page_title="Facial emotion recognition", page_icon=":material/sentiment_satisfied:", layout="wide")
    # The page list is the permission list: a visitor's navigation has no owner-only page.
    identity = ui.identity()
    allowed = navigation.pages_for(owner=ui.is_owner(identity))
    page = navigation.navigation(allowed)
    wanted = _spec_of(page_file, allowed) if page_file is not None else None
    if wanted is not None and navigation.st_page(wanted).url_path != page.url_path:
        st.switch_page(navigation.st_page(wanted))  # reruns on that page
    ui.identity_sidebar(identity)
    ui.model_sidebar()
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        page.run()
    finally:
        _state.depth -= 1


def _spec_of(page_file: str | Path, pages: tuple[navigation.PageSpec, ...]) -> navigation.PageSpec | None:
    target = Path(page_file).resolve()
    return next((spec for spec in pages if (navigation.REPO_ROOT / spec.path).resolve() == target), None)


def inside_entry() -> bool:
    """Whether the page now running was started by :func:`run_app` (in this script run's thread)."""
    return getattr(_state, "depth", 0) > 0


def through_entry(page_file: str | Path) -> None:
    """First call of every page (``entry.through_entry(__file__)``): when Streamlit ran the page
    without the entry, run the app instead.

    The page then runs inside :func:`run_app` (its URL chooses it, as always), and this outer run
    stops. A page this person may not use is not run: the navigation's own choice is.
    """
    if inside_entry():
        return
    run_app(page_file=page_file)
    st.stop()
