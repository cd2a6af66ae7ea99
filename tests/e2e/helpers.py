"""Helpers for the browser tests: a Streamlit server, a headless Chromium, and test media built at run time.

Test photos and the fake-camera clip are made when the tests run, from FER2013 when this machine has
it (never committed) or from a drawn cartoon face; nothing here reaches beyond this machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from app.server import free_port, streamlit_server  # noqa: F401 - the tests' one way to start the app

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FER_E2E_CHROMIUM", "/usr/bin/chromium"))
# Closed network, running as root: no sandbox, no GPU, no background traffic, nothing remembered.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
WEBCAM_FLAGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Real interface addresses in ICE candidates instead of mDNS names, which aiortc would need to resolve.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if not CHROMIUM.is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium; Playwright cannot download one here)"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    return None


def shipped_or_tiny_models(tiny_models_root: Path | None) -> Path | None:
    """The models folder for the server: the repository's when it holds a usable ``fast`` model, else the tiny one."""
    from core.model_store import MODELS_DIR, read_model_info  # noqa: PLC0415

    if (MODELS_DIR / "fast").is_dir() and read_model_info(MODELS_DIR / "fast").ok:
        return MODELS_DIR
    return tiny_models_root


def launch_chromium(playwright, *, user_data_dir: Path, extra_args: tuple[str, ...] = ()):  # noqa: ANN001, ANN201
    """A persistent (fresh-profile) headless Chromium context from Debian's binary."""
    if user_data_dir.exists():
        shutil.rmtree(user_data_dir)
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_FLAGS, *extra_args],
        viewport={"width": 1400, "height": 1000},
        chromium_sandbox=False,
    )


HOME_LINKS = '[data-testid="stMain"] [data-testid="stPageLink-NavLink"]'
"""The Home page's links to the other pages (not the sidebar's)."""


def open_home(page, url: str) -> None:  # noqa: ANN001
    """Open the Home page and wait until its links and its model card's table are drawn."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(url, wait_until="domcontentloaded")
    expect(page.get_by_text("Model card")).to_be_visible(timeout=60_000)
    page.locator(HOME_LINKS).first.wait_for(timeout=60_000)
    page.locator("[data-testid='stTable']").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)  # let the fonts and the layout settle


def home_link_labels(page) -> dict[str, bool]:  # noqa: ANN001
    """Each Home page link's label and whether the browser cuts it (some box inside narrower than its text)."""
    rows = page.locator(HOME_LINKS).evaluate_all(
        "links => links.map(a => [a.innerText.split('\\n').pop().trim(),"
        " [a, ...a.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth)])"
    )
    return {label: cut for label, cut in rows}


# --- test media ----------------------------------------------------------------------------------


def fer_face(index: int = 0) -> np.ndarray | None:
    """A 48x48 FER2013 face from this machine's copy of the dataset, or ``None`` without it."""
    from tests.core.faces import fer_csv_path, read_fer_faces  # noqa: PLC0415

    path = fer_csv_path()
    return None if path is None else read_fer_faces(path, index + 1)[index]


def face_photo(face: np.ndarray, *, width: int = 640, height: int = 480, size: int = 192) -> np.ndarray:
    """A BGR photo: ``face`` (gray 48x48) upscaled to ``size`` px and padded into a larger gray canvas."""
    big = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((height, width), 128, np.uint8)
    top, left = (height - size) // 2, (width - size) // 2
    canvas[top : top + size, left : left + size] = big
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)


def synthetic_photo(*, width: int = 640, height: int = 480, size: int = 100) -> np.ndarray:
    """A BGR photo of a drawn cartoon face (no dataset image), for screenshots that get committed.

    ``size`` 150 puts the face at webcam distance, where BlazeFace's short-range network finds it.
    """
    from tests.core.faces import face_scene  # noqa: PLC0415

    return face_scene(width=width, height=height, faces=((width // 2 - size, height // 2 - size),), size=size)


def write_y4m(path: Path, frame_bgr: np.ndarray, *, frames: int = 30, fps: int = 15) -> Path:
    """A Y4M (YUV 4:2:0) clip of ``frame_bgr`` with a slight drift, for Chromium's fake camera."""
    height, width = frame_bgr.shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"Y4M 4:2:0 needs even sizes, got {width}x{height}")
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            shifted = np.roll(frame_bgr, (i % 6) - 3, axis=1)
            handle.write(b"FRAME\n")
            handle.write(cv2.cvtColor(shifted, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
