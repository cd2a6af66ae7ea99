"""The Home page at a 1400-px window: every link to another page shows its whole label, owner or visitor."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.navigation import pages_for
from tests.e2e.helpers import free_port, home_link_labels, launch_chromium, open_home, streamlit_server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("public", [False, True], ids=["owner", "visitor"])
def test_home_links_are_not_cut_at_1400_px(
    chromium_ready: None, e2e_models: Path, tmp_path: Path, public: bool
) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    env = {"FER_MODELS_DIR": str(e2e_models), "FER2013_PATH": "", "FER_APP_PUBLIC": "1" if public else ""}
    with streamlit_server(port=free_port(), env=env, log=tmp_path / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")  # a 1400x1000 window
        try:
            page = context.new_page()
            open_home(page, server.url)
            labels = home_link_labels(page)
        finally:
            context.close()
    expected = [p.title for p in pages_for(owner=not public) if not p.default]
    assert list(labels) == expected, labels
    assert [label for label, cut in labels.items() if cut] == []
