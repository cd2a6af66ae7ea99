"""End to end in a real headless Chromium: training runs beside the server, never inside it.

Every page is visited and a training is started and cancelled on one ``streamlit run``; the server
must never load TensorFlow (the training's child process does), the cancel must be answered within
15 s, nothing of the run may be left in the models folder, and the server's memory must come back
within 150 MB of what it was before the run. The timings against a fresh server are measured by
``python -m benchmarks.server_jobs`` (docs/reliability.md), not asserted here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.server_jobs import MB, ServerSession, memory_bytes, tensorflow_loaded
from tests.app.conftest import write_fake_fer_csv
from tests.e2e.helpers import free_port, launch_chromium, streamlit_server

pytestmark = pytest.mark.e2e

CANCEL_WITHIN_S = 15.0
MEMORY_BACK_WITHIN = 150 * MB


def test_training_runs_in_its_own_process_and_cancels_cleanly(
    chromium_ready: None, e2e_models: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    models = tmp_path / "models"
    shutil.copytree(e2e_models, models)
    # Enough made-up faces that 5 epochs are still running when the cancel comes; quick to read.
    data = write_fake_fer_csv(tmp_path / "fer2013.csv.gz", per_class=150)
    env = {"FER_MODELS_DIR": str(models), "FER2013_PATH": str(data), "FER_CACHE_DIR": str(tmp_path / "cache")}
    with streamlit_server(port=free_port(), env=env, log=tmp_path / "streamlit.log") as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=tmp_path / "profile")
        try:
            session = ServerSession(context.new_page(), server.url)
            session.visit_every_page()
            pid = server.process.pid
            assert not tensorflow_loaded(pid), "a page loaded TensorFlow into the server"
            before = memory_bytes(pid)[0]
            session.start_training("cancel-me", epochs=5, limit=1000)
            assert (models / ".jobs").is_dir() and list((models / ".jobs").iterdir()), "the run has a job folder"
            assert not tensorflow_loaded(pid), "training loaded TensorFlow into the server"
            answered_s = session.cancel_training()
            assert answered_s <= CANCEL_WITHIN_S, f"the cancel took {answered_s:.1f} s"
            assert not (models / "cancel-me").exists()
            assert list((models / ".jobs").iterdir()) == [], "the run's folder was left"
            after = memory_bytes(pid)[0]
            assert after - before <= MEMORY_BACK_WITHIN, f"server memory {before / MB:.0f} -> {after / MB:.0f} MiB"
            # The name is free again, and the page offers a new run.
            session.page.get_by_role("button", name="Start training").wait_for(timeout=30_000)
            assert not tensorflow_loaded(pid)
        finally:
            context.close()
