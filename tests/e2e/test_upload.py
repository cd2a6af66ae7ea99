"""End to end in a real headless Chromium: upload a photo with a face, see the annotated result and its chart."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from tests.e2e.helpers import face_photo, fer_face, free_port, launch_chromium, streamlit_server

pytestmark = pytest.mark.e2e


def test_upload_shows_annotated_face_and_chart(chromium_ready: None, e2e_models: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    face = fer_face(0)
    if face is None:
        pytest.skip("FER2013 is not on this machine (the test photo is built from its first face at run time)")
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), face_photo(face))
    log = tmp_path / "streamlit.log"
    with streamlit_server(port=free_port(), env={"FER_MODELS_DIR": str(e2e_models)}, log=log) as server, \
            sync_playwright() as playwright:  # fmt: skip
        url = server.url
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            page = context.new_page()
            page.goto(f"{url}/Upload_and_predict", wait_until="domcontentloaded")
            page.locator('input[type="file"]').set_input_files(str(photo))
            image = page.locator('[data-testid="stImage"] img').first
            expect(image).to_be_visible(timeout=150_000)
            chart_title = page.locator(".js-plotly-plot .gtitle").first
            expect(chart_title).to_contain_text("Face 1:", timeout=30_000)
            assert page.locator(".js-plotly-plot .bars .point").count() >= 7  # all seven probabilities
            expect(page.get_by_text("1 face(s)")).to_be_visible()
            expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
            for label in ("Annotated PNG", "Results as JSON", "Results as CSV"):
                expect(page.get_by_role("button", name=label)).to_be_visible()
            # The grouped view: four bars, the seven probabilities summed (issue 25).
            page.get_by_text("Grouped view").click()
            expect(page.locator(".js-plotly-plot .ytick text", has_text="negative").first).to_be_visible(timeout=60_000)
            expect(page.locator(".js-plotly-plot .bars .point")).to_have_count(4, timeout=30_000)
            page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)
        finally:
            context.close()
