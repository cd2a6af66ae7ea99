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

import streamlit as st

from app import navigation, ui

_state = threading.local()  # each session's script runs in its own thread


def run_app() -> None:
    """Configure the page, build the navigation for this person, draw the sidebar, run the page."""
    st.set_page_config(page_title="Facial emotion recognition", page_icon=":material/sentiment_satisfied:", layout="wide")
    # The page list is the permission list: a visitor's navigation has no owner-only page.
    identity = ui.identity()
    page = navigation.navigation(navigation.pages_for(owner=ui.is_owner(identity)))
    ui.identity_sidebar(identity)
    ui.model_sidebar()
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        page.run()
    finally:
        _state.depth -= 1


def inside_entry() -> bool:
    """Whether the page now running was started by :func:`run_app` (in this script run's thread)."""
    return getattr(_state, "depth", 0) > 0


def through_entry() -> None:
    """First call of every page: when Streamlit ran the page without the entry, run the app instead.

    The page then runs inside :func:`run_app` (its URL chooses it, as always), and this outer run stops.
    """
    if inside_entry():
        return
    run_app()
    st.stop()
