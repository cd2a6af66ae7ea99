"""The app's entry point (``streamlit run Home.py``): it runs on every page.

Page configuration, the navigation and the shared sidebar are :func:`app.entry.run_app`; the pages
themselves live in ``pages/`` and are declared in ``app.navigation``; the home content is
``pages/home.py``.
"""

from __future__ import annotations

from app import entry

entry.run_app()
