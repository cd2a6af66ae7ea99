"""Load test in real browsers: 8 visitors upload large photos at the same moment to one ``streamlit run``.

Each session must get its own answer (its own file, its own face count) or the clear "busy" message,
never another session's result, and the server's peak memory must stay under Community Cloud's
2.7 GB. Local addresses only; bounded in sessions (8) and in time.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import cv2
import pytest

from app.limits import BUSY_SERVER, BUSY_SESSION
from tests.core.faces import face_scene
from tests.e2e.helpers import CHROMIUM, CHROMIUM_FLAGS, streamlit_server

pytestmark = pytest.mark.e2e

SESSIONS = 8
CLOUD_MEMORY_BYTES = 2.7e9  # Streamlit Community Cloud's memory per app
DEADLINE_S = 240.0


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory (VmHWM) so far."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def photo(index: int, folder: Path) -> tuple[Path, int]:
    """A 12-megapixel photo (4000x3000) with ``index % 3 + 1`` drawn faces, as JPEG; and its face count."""
    count = index % 3 + 1
    places = tuple((300 + 1200 * k, 900) for k in range(count))
    image = face_scene(width=4000, height=3000, faces=places, size=420)
    path = folder / f"session-{index}.jpg"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path, count


async def one_session(browser, url: str, upload: Path, start: asyncio.Event) -> str:  # noqa: ANN001
    """Open the upload page in its own browser context, upload at ``start``, and return what it shows."""
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        page = await context.new_page()
        await page.goto(f"{url}/Upload_and_predict", wait_until="domcontentloaded")
        field = page.locator('input[type="file"]')
        await field.wait_for(state="attached", timeout=120_000)
        await start.wait()
        await field.set_input_files(str(upload))
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            body = await page.inner_text("body")
            if any(marker in body for marker in ("face(s)", BUSY_SERVER, BUSY_SESSION, "No face found", "Cannot read")):
                await page.wait_for_timeout(1000)  # the rest of the same rerun
                return await page.inner_text("body")
            await page.wait_for_timeout(500)
        return await page.inner_text("body")
    finally:
        await context.close()


async def run_load(url: str, uploads: list[Path]) -> list[str]:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_FLAGS), chromium_sandbox=False
        )
        try:
            start = asyncio.Event()
            tasks = [asyncio.create_task(one_session(browser, url, path, start)) for path in uploads]
            # Every page is open and waiting before the uploads go, so they arrive together.
            await asyncio.sleep(20)
            start.set()
            return await asyncio.wait_for(asyncio.gather(*tasks), timeout=DEADLINE_S + 60)
        finally:
            await browser.close()


def test_eight_visitors_uploading_at_once(chromium_ready: None, e2e_models: Path, tmp_path: Path) -> None:
    made = [photo(i, tmp_path) for i in range(SESSIONS)]
    env = {"FER_MODELS_DIR": str(e2e_models), "FER_APP_PUBLIC": "1"}
    log = tmp_path / "streamlit.log"
    with streamlit_server(env=env, log=log, timeout_s=120) as server:
        started = time.monotonic()
        pages = asyncio.run(run_load(server.url, [path for path, _ in made]))
        seconds = time.monotonic() - started
        peak = peak_rss_bytes(server.process.pid)
    answered = busy = 0
    for index, ((path, count), body) in enumerate(zip(made, pages)):
        others = [p.name for p, _ in made if p.name != path.name]
        assert not any(name in body for name in others), f"session {index} shows another session's file"
        if BUSY_SERVER in body or BUSY_SESSION in body:
            busy += 1
            continue
        assert path.name in body, f"session {index} shows neither its own result nor 'busy': {body[-600:]}"
        assert f"{count} face(s)" in body, f"session {index}: expected {count} faces"
        answered += 1
    print(
        f"load: {SESSIONS} sessions uploading 12-MP photos at once: {answered} answered, {busy} told busy, "
        f"{seconds:.0f} s, server peak RSS {peak / 2**20:.0f} MiB"
    )
    assert answered >= 1 and answered + busy == SESSIONS
    assert peak < CLOUD_MEMORY_BYTES, f"peak RSS {peak / 2**20:.0f} MiB passes Community Cloud's 2.7 GB"
