"""Drive the webcam page with Chromium's fake camera, inside a private network namespace.

Run by ``test_webcam.py`` as ``unshare -n -- python -m tests.e2e.webcam_driver ...``. aiortc leaves
127.0.0.1 out of its ICE candidates, so the namespace gets a veth pair (10.99.0.1 and 10.99.0.2)
for WebRTC to use; the Streamlit server (on all the namespace's addresses) and Chromium both run in
it, and nothing in it can reach any other network. The page is loaded as http://localhost:PORT, a
secure context, so the browser may open the camera.

Once labels arrive it records a few seconds ("Record", then "Stop") and reads the recording's summary.
Without ``--y4m`` the camera shows Chromium's own test pattern (green, a rotating wedge, no person):
it waits for frames to be analysed, counts face labels for 8 seconds (``face_labels_seen``), and
records 6 seconds.

Writes ``result.json`` (``{"ok", "labels", "rate", "chart", "recording", "timelines", "downloads",
"error"}``), a screenshot, and ``recording.png`` (the recording's summary) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.helpers import WEBCAM_FLAGS, free_port, launch_chromium, streamlit_server

NAMESPACE_SETUP = (
    "ip link set lo up",
    "ip link add fer-veth0 type veth peer name fer-veth1",
    "ip addr add 10.99.0.1/24 dev fer-veth0",
    "ip addr add 10.99.0.2/24 dev fer-veth1",
    "ip link set fer-veth0 up",
    "ip link set fer-veth1 up",
)


def set_up_network() -> None:
    """Bring up loopback and a veth pair in this (new, empty) network namespace."""
    for command in NAMESPACE_SETUP:
        subprocess.run(command.split(), check=True, capture_output=True, text=True)


def drive(*, y4m: Path | None, models: Path, out: Path, timeout_s: float, screenshot: Path | None) -> dict:
    """Run the webcam page with a fake camera: ``y4m`` played, or (``None``) Chromium's own test pattern."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    result: dict = {"ok": False, "labels": None, "rate": None, "chart": 0, "recording": None, "timelines": [],
                    "downloads": [], "error": None}
    port = free_port()
    log = out / "streamlit.log"
    with streamlit_server(port=port, address="0.0.0.0", env={"FER_MODELS_DIR": str(models)}, log=log) as server, \
            sync_playwright() as playwright:  # fmt: skip
        url = server.url
        context = launch_chromium(
            playwright, user_data_dir=out / "profile",
            extra_args=(*WEBCAM_FLAGS, *([f"--use-file-for-fake-video-capture={y4m}"] if y4m else [])),
        )  # fmt: skip
        page = context.new_page()
        try:
            # A cold server now and then leaves the first load blank (seen once in a fresh clone's
            # first run); load again once rather than fail on something that is not the app's fault.
            heading = page.get_by_role("heading", name=re.compile(r"Live webcam"))
            for attempt in range(2):
                page.goto(f"{url}/Live_webcam", wait_until="domcontentloaded")
                try:
                    heading.first.wait_for(timeout=60_000)
                    break
                except Exception:
                    if attempt:
                        raise
                    result["reloaded"] = True
            start = page.frame_locator("iframe").first.get_by_role("button", name=re.compile(r"^start$", re.I))
            start.click(timeout=120_000)
            if y4m is None:
                pattern(page, result, out=out, timeout_s=timeout_s)
                return result
            labels = page.locator('[data-testid="stMarkdownContainer"]', has_text=re.compile(r"Face 1:"))
            labels.first.wait_for(timeout=timeout_s * 1000)
            result["labels"] = labels.first.inner_text()
            processing_rate(page, result, timeout_s=20)
            # The emotion-mix chart, fed through the queue: its stacked areas get drawn.
            chart = page.locator(".js-plotly-plot").first
            chart.locator(".scatterlayer .trace").first.wait_for(timeout=30_000)
            result["chart"] = chart.locator(".scatterlayer .trace").count()
            page.wait_for_timeout(3000)  # let the chart fill a little for the screenshot
            record(page, result, out=out)
            result["ok"] = True
        except Exception as exc:  # reported through result.json and the screenshot
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            page.screenshot(path=str(screenshot or out / "webcam.png"))
            context.close()
    return result


def processing_rate(page, result: dict, *, timeout_s: float) -> None:  # noqa: ANN001
    """Wait until the page's processing rate shows frames being analysed; keep its text in ``result``."""
    rate = page.locator('[data-testid="stMetric"]', has_text="Processing rate")
    rate.first.wait_for(timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result["rate"] = rate.first.inner_text().splitlines()[-1]
        if re.match(r"[1-9]|0\.[1-9]", result["rate"]):
            return
        time.sleep(0.5)


def pattern(page, result: dict, *, out: Path, timeout_s: float) -> None:  # noqa: ANN001
    """Chromium's test pattern (no person in it): frames are analysed, no face is labelled, a recording has none."""
    processing_rate(page, result, timeout_s=timeout_s)
    seen = 0
    for _ in range(16):  # 8 seconds of the live view, looked at twice a second
        seen += page.locator('[data-testid="stMarkdownContainer"]', has_text=re.compile(r"Face \d+:")).count()
        page.wait_for_timeout(500)
    result["face_labels_seen"] = seen
    result["no_face_caption"] = page.get_by_text("No face in view.").count() > 0
    page.get_by_role("button", name="Record").click()
    page.get_by_text(re.compile(r"Recording: \d+ s of")).first.wait_for(timeout=30_000)
    page.wait_for_timeout(6000)
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("heading", name="Recording", exact=True).wait_for(timeout=60_000)
    result["recording"] = page.get_by_text(re.compile(r"frames analysed, \d+ face")).first.inner_text()
    result["ok"] = True


def record(page, result: dict, *, out: Path) -> None:  # noqa: ANN001
    """Record a few seconds of the session, stop, and read what the page shows of the recording."""
    page.get_by_role("button", name="Record").click()
    page.get_by_text(re.compile(r"Recording: \d+ s of")).first.wait_for(timeout=30_000)
    page.wait_for_timeout(4000)
    page.get_by_role("button", name="Stop").click()
    heading = page.get_by_role("heading", name="Recording", exact=True)
    heading.wait_for(timeout=60_000)
    result["recording"] = page.get_by_text(re.compile(r"frames analysed, \d+ face")).first.inner_text()
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)  # the summary table
    titles = page.locator(".js-plotly-plot .gtitle")
    page.locator(".js-plotly-plot .gtitle", has_text="Face 1").first.wait_for(timeout=30_000)
    result["timelines"] = [t for t in titles.evaluate_all("els => els.map(e => e.textContent)") if t.startswith("Face ")]
    result["downloads"] = [
        label for label in ("Timeline as CSV", "Timeline as JSON") if page.get_by_role("button", name=label).is_visible()
    ]
    page.mouse.move(0, 0)  # no tooltip over the shot
    page.set_viewport_size({"width": 1400, "height": 2200})  # the main area scrolls inside: a tall window shows it all
    page.wait_for_timeout(2000)  # let the charts finish their transitions
    last = page.get_by_role("button", name="Timeline as JSON").bounding_box()
    height = min(2200, int(last["y"] + last["height"] + 40)) if last else 2200
    page.screenshot(path=str(out / "recording.png"), clip={"x": 0, "y": 0, "width": 1400, "height": height})
    page.set_viewport_size({"width": 1400, "height": 1000})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--y4m", type=Path, help="a clip for the fake camera (default: Chromium's own test pattern)")
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        set_up_network()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        (args.out / "result.json").write_text(json.dumps({"ok": False, "skip": f"network setup failed: {detail}"}))
        return 3
    result = drive(y4m=args.y4m, models=args.models, out=args.out, timeout_s=args.timeout, screenshot=args.screenshot)
    (args.out / "result.json").write_text(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
