"""End to end in a real headless Chromium: the owner adapts a model to an uploaded ZIP of labelled
photos on the Training page, reads the report, finds the model in the selector, downloads it as one
file, deletes it and uploads it back."""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from benchmarks.server_jobs import ServerSession, tensorflow_loaded
from core.model_store import read_model_info
from tests.app.conftest import write_fake_fer_csv
from tests.e2e.helpers import free_port, launch_chromium, streamlit_server
from tests.training.test_adapt import write_drawn_people

pytestmark = pytest.mark.e2e

SCREENSHOTS = os.environ.get("FER_E2E_SCREENSHOTS")  # a folder to keep the pages' screenshots in, when set


def _zip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return out


def _shot(page, name: str) -> None:  # noqa: ANN001
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def test_the_owner_adapts_downloads_deletes_and_uploads_back_a_model(
    chromium_ready: None, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(tiny_model_dir, models / "tiny")  # the tiny model: quick to adapt on 2 cores
    photos = _zip(write_drawn_people(tmp_path / "photos"), tmp_path / "our-lab.zip")
    data = write_fake_fer_csv(tmp_path / "fer2013.csv.gz", per_class=3)
    env = {"FER_MODELS_DIR": str(models), "FER2013_PATH": str(data), "FER_CACHE_DIR": str(tmp_path / "cache")}
    with streamlit_server(port=free_port(), env=env, log=tmp_path / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            session = ServerSession(context.new_page(), server.url)
            page = session.page
            session.open("Training")
            page.get_by_text("Adapt to your photos", exact=True).click()
            session.idle()
            page.locator('input[type="file"]').first.set_input_files(str(photos))
            session.idle()
            page.get_by_role("textbox", name="New model's name").fill("our-lab")
            page.get_by_role("textbox", name="New model's name").press("Enter")
            session.idle()
            page.get_by_role("combobox", name="Who is in each photo").click()
            page.get_by_role("option", name="first 4 characters of the file name").click()
            session.idle()
            page.get_by_text("Options", exact=True).click()
            epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
            epochs.fill("3")
            epochs.press("Enter")
            session.idle()
            _shot(page, "adapt-form")
            page.get_by_role("button", name="Start adapting").click()
            page.get_by_text(re.compile(r"Model our-lab is saved")).first.wait_for(timeout=300_000)
            session.idle()
            _shot(page, "adapt-report")
            assert not tensorflow_loaded(server.process.pid), "adapting loaded TensorFlow into the server"
            info = read_model_info(models / "our-lab")
            assert info.ok and info.metadata["adapted"]["source"] == "our-lab.zip"
            assert info.metadata["adapted"]["public_test"]["n"] == 21  # the made-up PublicTest
            for text in ("Held-out people, after", "FER2013 PublicTest, after", "Recall per class", "Not used (2)"):
                assert page.get_by_text(text).first.is_visible(), text

            with page.expect_download() as waiting:
                page.get_by_role("button", name="Download", exact=True).click()
            saved = tmp_path / "our-lab-download.zip"
            waiting.value.save_as(saved)
            assert "our-lab/metadata.json" in zipfile.ZipFile(io.BytesIO(saved.read_bytes())).namelist()

            page.get_by_role("button", name="Delete", exact=True).click()
            session.idle()
            _shot(page, "adapt-delete")
            page.get_by_role("dialog").get_by_role("button", name="Delete").click()
            page.get_by_text("No adapted model yet.").wait_for(timeout=60_000)
            assert not (models / "our-lab").exists()

            page.locator('input[type="file"]').last.set_input_files(str(saved))
            session.idle()
            page.get_by_role("button", name="Add this model").click()
            page.get_by_text(re.compile(r"Model our-lab is back")).wait_for(timeout=60_000)
            assert read_model_info(models / "our-lab").ok
            page.get_by_role("combobox", name="Emotion model").click()
            page.get_by_role("option", name=re.compile(r"^our-lab")).wait_for(timeout=30_000)  # the selector lists it
            _shot(page, "adapt-selector")
        finally:
            context.close()

