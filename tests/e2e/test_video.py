"""End to end in a real headless Chromium: upload a clip made at run time, analyse it, see its timeline chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import free_port, launch_chromium, streamlit_server

pytestmark = pytest.mark.e2e


def test_video_upload_shows_the_timeline(chromium_ready: None, e2e_models: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    from tests.core.faces import face_scene  # noqa: PLC0415
    from tests.core.video_clips import write_clip  # noqa: PLC0415

    clip = write_clip(tmp_path / "drawn-face.mp4", [face_scene(faces=((150 + 8 * i, 100),)) for i in range(15)])
    log = tmp_path / "streamlit.log"
    with streamlit_server(port=free_port(), env={"FER_MODELS_DIR": str(e2e_models)}, log=log) as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            page = context.new_page()
            # Home first: the server runs a page URL opened as its first request without Home.py.
            page.goto(server.url, wait_until="domcontentloaded")
            expect(page.get_by_text("Model card")).to_be_visible(timeout=60_000)
            page.goto(f"{server.url}/Video", wait_until="domcontentloaded")
            expect(page.get_by_text("Upload a video with faces")).to_be_visible(timeout=60_000)
            page.locator('input[type="file"]').set_input_files(str(clip))
            analyse = page.get_by_role("button", name="Analyse")
            expect(analyse).to_be_enabled(timeout=30_000)
            analyse.click()
            chart_title = page.locator(".js-plotly-plot .gtitle").first
            expect(chart_title).to_contain_text("Face 1", timeout=150_000)
            assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 7  # all seven emotions
            expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
            expect(page.locator("video").first).to_be_attached()
            for label in ("Timeline as CSV", "Timeline as JSON", "Annotated MP4"):
                expect(page.get_by_role("button", name=label)).to_be_visible()
            # The files are made when the button is pressed; faces are numbered from 1, as drawn.
            with page.expect_download(timeout=60_000) as download:
                page.get_by_role("button", name="Timeline as CSV").click()
            header, first = Path(download.value.path()).read_text().splitlines()[:2]
            assert header.startswith("time_s,frame,face,") and first.split(",")[2] == "1"
            page.screenshot(path=str(tmp_path / "video.png"), full_page=True)
        finally:
            context.close()
