"""End to end in a real headless Chromium: a visitor evaluates a ZIP of labelled drawn faces on the Evaluation page."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest

from tests.core.archives import make_zip
from tests.core.faces import face_scene
from tests.e2e.helpers import free_port, launch_chromium, streamlit_server

pytestmark = pytest.mark.e2e


def drawn_faces_zip(path: Path) -> Path:
    """Drawn faces (no dataset image) in emotion folders, with a labels.csv giving two groups, and a faceless photo."""
    members = []
    for i, (folder, x) in enumerate([("happiness", 120), ("sad", 220), ("anger", 320), ("surprised", 160), ("calm", 260)]):
        for j, size in enumerate((70, 90)):
            image = face_scene(width=640, height=480, faces=((x, 80 + 20 * j),), size=size)
            members.append((f"faces/{folder}/{i}{j}.jpg", cv2.imencode(".jpg", image)[1].tobytes()))
    members.append(("faces/sad/empty.jpg", cv2.imencode(".jpg", face_scene(faces=()))[1].tobytes()))
    table = "path,label,group\n" + "".join(
        f"{name.removeprefix('faces/')},{name.split('/')[1]},{'near' if name.endswith('1.jpg') else 'far'}\n"
        for name, _ in members
    )
    members.append(("faces/labels.csv", table.encode()))
    path.write_bytes(make_zip(members))
    return path


def test_your_photos_scores_a_zip_and_shows_every_view(chromium_ready: None, e2e_models: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    archive = drawn_faces_zip(tmp_path / "my-faces.zip")
    env = {"FER_MODELS_DIR": str(e2e_models), "FER_APP_PUBLIC": "1", "FER2013_PATH": ""}
    with streamlit_server(port=free_port(), env=env, log=tmp_path / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            page = context.new_page()
            page.goto(f"{server.url}/Evaluation", wait_until="domcontentloaded")
            page.get_by_text("Your photos").click()
            page.locator('input[type="file"]').set_input_files(str(archive))
            page.get_by_role("button", name="Evaluate").click()
            expect(page.get_by_text("Accuracy, all photos")).to_be_visible(timeout=150_000)
            expect(page.get_by_text("No face found").first).to_be_visible()
            expect(page.locator(".js-plotly-plot .gtitle").first).to_contain_text("Confusion matrix", timeout=30_000)
            page.get_by_role("tab", name="Groups").click()
            expect(page.get_by_text("Accuracy per group")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Groups with fewer than 30 photos")).to_be_visible()
            # The same drawn face under five labels: some are read wrong; "Why?" maps one of them.
            page.get_by_role("tab", name="Misclassified faces").click()
            expect(page.get_by_text("photos with a face read wrong")).to_be_visible(timeout=30_000)
            page.get_by_text("Why? Explain one of these faces").click()
            expect(page.get_by_text("Right: the same for the true label.")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("What held up")).to_be_visible()
            page.get_by_role("tab", name="Files").click()
            expect(page.get_by_role("button", name="Per-file CSV")).to_be_visible()
            page.get_by_role("tab", name="Confusion matrix").click()
            page.wait_for_timeout(1500)  # let the chart finish its transition
            shots = Path(os.environ.get("FER_SCREENSHOTS_DIR", tmp_path))
            page.screenshot(path=str(shots / "your-photos.png"), full_page=True)
        finally:
            context.close()
