"""End to end in a real headless Chromium: a drawn face's "Why?" view on the upload page shows its saliency map."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from tests.e2e.helpers import free_port, launch_chromium, streamlit_server, synthetic_photo
from tests.real_data import REAL_FER2013, SKIP_REASON
from tests.e2e.screenshots import take_why

pytestmark = pytest.mark.e2e


def test_why_shows_the_map_over_the_face_and_in_the_photo(
    chromium_ready: None, e2e_models: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    photo = tmp_path / "cartoon-face.png"
    cv2.imwrite(str(photo), synthetic_photo())
    env = {"FER_MODELS_DIR": str(e2e_models), "FER2013_PATH": ""}
    with streamlit_server(port=free_port(), env=env, log=tmp_path / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            page = context.new_page()
            page.goto(f"{server.url}/Upload_and_predict", wait_until="domcontentloaded")
            page.locator('input[type="file"]').set_input_files(str(photo))
            expect(page.locator(".js-plotly-plot .gtitle").first).to_contain_text("Face 1:", timeout=150_000)
            images = page.locator('[data-testid="stImage"] img')
            before = images.count()
            take_why(page)
            expect(images).to_have_count(before + 2, timeout=30_000)  # the map over the crop, and in the photo
            for index in (before, before + 1):
                box = images.nth(index).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 100
            # Another emotion on request: the caption follows it.
            page.get_by_role("combobox", name="Explain").first.click()
            page.get_by_role("option", name="fear", exact=True).click()
            expect(page.get_by_text("lowers fear (").first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(tmp_path / "why.png"), full_page=True)
        finally:
            context.close()


@pytest.mark.skipif(REAL_FER2013 is None, reason=SKIP_REASON)
def test_the_evaluation_gallery_stays_in_its_tab_and_explains_a_face(
    chromium_ready: None, e2e_models: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    env = {"FER_MODELS_DIR": str(e2e_models), "FER2013_PATH": str(REAL_FER2013)}
    with streamlit_server(port=free_port(), env=env, log=tmp_path / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            page = context.new_page()
            page.goto(f"{server.url}/Evaluation", wait_until="domcontentloaded")
            page.get_by_role("tab", name="Misclassified faces").click(timeout=120_000)
            # Each toggle reruns the page: the tab it sits in must stay the one shown.
            page.get_by_text("gets wrong").click()
            expect(page.get_by_text("misclassified faces (of")).to_be_visible(timeout=120_000)
            page.get_by_text("Why? Explain one of these faces").click()
            expect(page.get_by_text("Right: the same for the true label.")).to_be_visible(timeout=60_000)
        finally:
            context.close()
