"""The server during and after a training run, in a real headless Chromium on one ``streamlit run``.

    python -m benchmarks.server_jobs --clip CLIP.mp4 --photos A.jpg B.jpg C.jpg [--gc both] [--repeats 3]

One session as a user has it: a video analysed on the fresh server, three photos uploaded with two
"Why?" maps opened, three photos uploaded again while a training runs, the training cancelled, and
the same video analysed again. It prints a table: the video's time before and after the training
(and their ratio), the upload's time idle and during the training (and their ratio), how long the
cancel took to be answered, the server's memory before the run, after the cancel and at its peak,
and whether TensorFlow was ever loaded into the server. ``--gc both`` runs the session with
Streamlit's ``runner.postScriptGC`` on and off, each on a fresh server.

The browser test (``tests/e2e/test_training_job.py``) drives the same :class:`ServerSession` with
tiny inputs; the figures written in ``docs/reliability.md`` come from this module on real samples.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.server import free_port, streamlit_server

MB = 1024 * 1024
PAGES = ("Upload_and_predict", "Live_webcam", "Video", "Dataset_browser", "Evaluation", "Training")


def memory_bytes(pid: int) -> tuple[int, int]:
    """``(resident now, peak resident)`` of a process (``VmRSS``, ``VmHWM``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
    hwm = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024
    return rss, hwm


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_share(pid: int, seconds: float) -> float:
    """The share of one core the process used over the next ``seconds``."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def tensorflow_loaded(pid: int) -> bool:
    """Whether TensorFlow's own libraries are mapped into the process (LiteRT's are not TensorFlow's)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "/tensorflow/" in maps or "libtensorflow" in maps


@dataclass
class ServerSession:
    """A Chromium page on a running server, with the user's steps as methods (Playwright's sync API)."""

    page: Any
    url: str
    timeout_ms: int = 180_000

    def open(self, name: str = "") -> None:
        """Open a page by its URL path (``""``: Home); the server runs Home first on a fresh session."""
        self.page.goto(f"{self.url}/{name}", wait_until="domcontentloaded")
        self.page.locator('[data-testid="stSidebar"], [data-testid="stMain"]').first.wait_for(timeout=self.timeout_ms)
        self.idle()

    def idle(self) -> None:
        """Wait until the page's script run has finished (Streamlit's status widget is gone)."""
        self.page.wait_for_timeout(300)
        self.page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=self.timeout_ms)

    def visit_every_page(self) -> None:
        self.open()
        self.page.get_by_text("Model card").first.wait_for(timeout=self.timeout_ms)
        for name in PAGES:
            self.open(name)

    def analyse_video(self, clip: Path) -> float:
        """Seconds from pressing Analyse until the first face's timeline is drawn."""
        self.open("Video")
        self.page.locator('input[type="file"]').set_input_files(str(clip))
        analyse = self.page.get_by_role("button", name="Analyse")
        analyse.wait_for(timeout=self.timeout_ms)
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Analyse') && !b.disabled)",
            timeout=self.timeout_ms,
        )
        started = time.perf_counter()
        analyse.click()
        self.page.locator(".js-plotly-plot .gtitle", has_text="Face 1").first.wait_for(timeout=self.timeout_ms * 3)
        return time.perf_counter() - started

    def upload_photos(self, photos: list[Path]) -> float:
        """Seconds from choosing the photos until every one of them has its answer on the page."""
        self.open("Upload_and_predict")
        field = self.page.locator('input[type="file"]')
        field.wait_for(state="attached", timeout=self.timeout_ms)
        started = time.perf_counter()
        field.set_input_files([str(p) for p in photos])
        answers = self.page.get_by_text(re.compile(r"^\d+ face\(s\)$"))  # each photo's annotated image caption
        deadline = time.monotonic() + self.timeout_ms / 1000
        while answers.count() < len(photos) and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        if answers.count() < len(photos):
            raise TimeoutError(f"{answers.count()} of {len(photos)} photos answered")
        return time.perf_counter() - started

    def open_why_maps(self, count: int) -> float:
        """Open the first ``count`` "Why?" views of the upload page; seconds until the last map shows."""
        started = time.perf_counter()
        for index in range(count):
            self.page.get_by_text("Why?", exact=True).nth(index).click()
            self.page.get_by_text("As the model sees it (48x48, levelled)").nth(index).wait_for(timeout=self.timeout_ms)
            self.idle()
        return time.perf_counter() - started

    def start_training(self, name: str, *, epochs: int = 1, limit: int = 1000) -> None:
        """Start a training run on the Training page and wait until its first batch is reported."""
        self.open("Training")
        self.page.get_by_role("textbox", name="Model name").fill(name)
        for label, value in (("Epochs", epochs), ("Training faces (0 = all)", limit)):
            box = self.page.get_by_role("spinbutton", name=label, exact=True)
            box.fill(str(value))
            box.press("Enter")
            self.idle()
        self.page.get_by_role("button", name="Start training").click()
        self.page.get_by_text(re.compile(r"batch \d+ of \d+")).first.wait_for(timeout=self.timeout_ms * 2)

    def cancel_training(self) -> float:
        """Press Cancel; seconds until the page says the run was cancelled."""
        started = time.perf_counter()
        self.page.get_by_role("button", name="Cancel training").click()
        self.page.get_by_text(re.compile(r"was cancelled")).first.wait_for(timeout=self.timeout_ms)
        return time.perf_counter() - started


@dataclass
class SessionFigures:
    """What one session measured (seconds and bytes)."""

    gc: bool
    video_fresh_s: float = 0.0
    video_after_s: float = 0.0
    upload_idle_s: float = 0.0
    upload_training_s: float = 0.0
    why_s: float = 0.0
    cancel_s: float = 0.0
    rss_before_run: int = 0
    rss_after_cancel: int = 0
    peak_rss: int = 0
    panel_cpu: float = 0.0  # share of a core the server spends with the Training page's progress panel open
    idle_cpu: float = 0.0  # ... and with the Home page open instead, the same run going
    tensorflow_in_server: bool = False
    model_left: bool = False
    notes: list[str] = field(default_factory=list)


def one_session(
    clip: Path, photos: list[Path], *, dataset: str, models: Path, gc: bool, work: Path, timeout_s: float = 180.0
) -> SessionFigures:  # fmt: skip
    """The whole session on a fresh server with ``runner.postScriptGC`` set to ``gc``."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from tests.e2e.helpers import launch_chromium  # noqa: PLC0415 - the browser tests' Chromium set-up

    figures = SessionFigures(gc=gc)
    env = {"FER_MODELS_DIR": str(models), "FER2013_PATH": dataset}
    extra = ("--runner.postScriptGC", "true" if gc else "false")
    with streamlit_server(port=free_port(), env=env, log=work / f"server-gc-{gc}.log", extra_args=extra) as server, \
            sync_playwright() as playwright:  # fmt: skip
        context = launch_chromium(playwright, user_data_dir=work / f"profile-{gc}")
        try:
            session = ServerSession(context.new_page(), server.url, int(timeout_s * 1000))
            session.open()
            figures.video_fresh_s = session.analyse_video(clip)
            # A visitor's upload, each time in a new browser tab (a new session), idle and during the run.
            idle_visitor = ServerSession(context.new_page(), server.url, int(timeout_s * 1000))
            figures.upload_idle_s = idle_visitor.upload_photos(photos)
            idle_visitor.page.close()
            session.upload_photos(photos)
            figures.why_s = session.open_why_maps(2)
            figures.rss_before_run = memory_bytes(server.process.pid)[0]
            name = f"bench-cancel-{int(time.time())}"
            session.start_training(name)
            figures.panel_cpu = server_cpu_share(server.process.pid, 10.0)
            session.open()  # the panel stops; the run goes on
            figures.idle_cpu = server_cpu_share(server.process.pid, 10.0)
            session.open("Training")
            visitor = ServerSession(context.new_page(), server.url, int(timeout_s * 1000))
            figures.upload_training_s = visitor.upload_photos(photos)
            figures.cancel_s = session.cancel_training()
            figures.model_left = (models / name).exists()
            time.sleep(2)
            figures.rss_after_cancel = memory_bytes(server.process.pid)[0]
            figures.video_after_s = session.analyse_video(clip)
            figures.peak_rss = memory_bytes(server.process.pid)[1]
            figures.tensorflow_in_server = tensorflow_loaded(server.process.pid)
        finally:
            context.close()
    return figures


def _table(rows: list[SessionFigures]) -> str:
    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    lines = [
        "| postScriptGC | video fresh | video after training | ratio | 3 photos idle | during training | ratio "
        "| 2 Why? maps | cancel answered | memory before run | after cancel | peak | server CPU, progress panel open "
        "| without it | TensorFlow in server |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for gc in sorted({r.gc for r in rows}, reverse=True):
        runs = [r for r in rows if r.gc == gc]
        fresh, after = median([r.video_fresh_s for r in runs]), median([r.video_after_s for r in runs])
        idle, busy = median([r.upload_idle_s for r in runs]), median([r.upload_training_s for r in runs])
        lines.append(
            f"| {'on' if gc else 'off'} ({len(runs)} runs) | {fresh:.1f} s | {after:.1f} s | {after / fresh:.2f}x "
            f"| {idle:.1f} s | {busy:.1f} s | {busy / idle:.2f}x | {median([r.why_s for r in runs]):.1f} s "
            f"| {median([r.cancel_s for r in runs]):.1f} s | {median([r.rss_before_run for r in runs]) / MB:.0f} MiB "
            f"| {median([r.rss_after_cancel for r in runs]) / MB:.0f} MiB | {max(r.peak_rss for r in runs) / MB:.0f} MiB "
            f"| {median([r.panel_cpu for r in runs]):.1%} | {median([r.idle_cpu for r in runs]):.1%} "
            f"| {'yes' if any(r.tensorflow_in_server for r in runs) else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, required=True, help="a short video with one face")
    parser.add_argument("--photos", type=Path, nargs=3, required=True, help="three photos with faces")
    parser.add_argument("--data", default="", help="FER2013 for the training run (default: $FER2013_PATH)")
    parser.add_argument("--gc", choices=("on", "off", "both"), default="on", help="Streamlit's runner.postScriptGC")
    parser.add_argument("--repeats", type=int, default=1, help="sessions per setting, on fresh servers")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for any one step")
    args = parser.parse_args(argv)
    from core.model_store import MODELS_DIR  # noqa: PLC0415

    dataset = args.data or os.environ.get("FER2013_PATH", "")
    if not dataset:
        parser.error("the training run needs FER2013: --data or $FER2013_PATH")
    settings = {"on": [True], "off": [False], "both": [True, False]}[args.gc]
    rows = []
    with tempfile.TemporaryDirectory(prefix="server-jobs-") as folder:
        work = Path(folder)
        models = work / "models"
        shutil.copytree(MODELS_DIR, models)  # the run must not touch the shipped folder
        for repeat in range(args.repeats):
            for gc in settings:
                figures = one_session(
                    args.clip, list(args.photos), dataset=dataset, models=models, gc=gc, work=work, timeout_s=args.timeout
                )  # fmt: skip
                rows.append(figures)
                print(f"run {repeat + 1}, postScriptGC {'on' if gc else 'off'}: {figures}", flush=True)
    print(_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
