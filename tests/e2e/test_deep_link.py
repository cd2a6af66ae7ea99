"""A shared link to a page, opened first on a freshly started server, shows the app as it should be.

Until some script of the process has called ``st.navigation``, Streamlit treats ``pages/`` as its
legacy multipage app and runs a page opened by URL on its own (see ``app.entry``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import free_port, launch_chromium, streamlit_server

pytestmark = pytest.mark.e2e


def test_the_first_visit_to_a_page_url_gets_the_apps_navigation_and_sidebar(
    chromium_ready: None, e2e_models: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    env = {"FER_MODELS_DIR": str(e2e_models), "FER2013_PATH": ""}
    with streamlit_server(port=free_port(), env=env, log=tmp_path / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            page = context.new_page()
            page.goto(f"{server.url}/Video", wait_until="domcontentloaded")  # the server's first session
            expect(page.get_by_role("heading", name="Video", exact=True).first).to_be_visible(timeout=120_000)
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar.get_by_text("Emotion model")).to_be_visible(timeout=30_000)  # Home.py's sidebar ran
            nav = page.locator('[data-testid="stSidebarNav"]')
            expect(nav.get_by_text("Analyse", exact=True)).to_be_visible()  # the app's sections
            links = [text.split("\n")[-1].strip() for text in nav.locator("a").all_inner_texts()]  # icon, label
            assert "home" not in links, links  # not the legacy list of pages/ files
            assert links.count("Home") == 1 and "Video" in links, links
        finally:
            context.close()
