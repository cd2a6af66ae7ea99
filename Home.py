"""The app's entry point: page configuration, the shared sidebar and the navigation.

It runs on every page. The pages themselves live in ``pages/`` and are declared in
``app.navigation``; the home content is ``pages/home.py``.
"""

from __future__ import annotations

import streamlit as st

from app import navigation, ui

st.set_page_config(page_title="Facial emotion recognition", page_icon=":material/sentiment_satisfied:", layout="wide")
# The page list is the permission list: a visitor's navigation has no owner-only page.
identity = ui.identity()
page = navigation.navigation(navigation.pages_for(owner=ui.is_owner(identity)))
ui.identity_sidebar(identity)
ui.model_sidebar()
page.run()
