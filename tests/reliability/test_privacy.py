"""Privacy: an uploaded photo is never written to disk, and the page shows each bad file's own error.

Proved at the AppTest level: the real upload page (``pages/1_Upload_and_predict.py``) runs in this
process with several uploads (faces, no face, hostile files). While it analyses them,

* an audit hook sees every Python-level ``open`` for writing, ``os.rename``/``replace``,
  ``mkdir``, ``tempfile.mkstemp``/``mkdtemp`` and ``shutil`` copy in this process: there must be none;
* the temporary folder and the working folder are fresh, private ones: they must stay empty
  (this also catches writes from C code such as OpenCV or TensorFlow);
* no file in the repository changes or appears with an upload's bytes in it.

Streamlit's server keeps uploads in memory too (``MemoryUploadedFileManager``); the browser path
is not exercised here.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.recognizer import EmotionRecognizer
from app.upload import analyse_upload
from tests.core.faces import face_scene
from tests.reliability import hostile

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "pages" / "1_Upload_and_predict.py"
APP_TIMEOUT = 180
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules", ".cache"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_WRITE_EVENTS = {"os.rename", "os.mkdir", "os.link", "os.symlink", "os.truncate", "shutil.copyfile",
                 "shutil.copytree", "tempfile.mkstemp", "tempfile.mkdtemp"}  # fmt: skip


class WriteWatch:
    """Records this process's Python-level file writes while active (an audit hook cannot be removed)."""

    _installed: WriteWatch | None = None

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    @classmethod
    def get(cls) -> WriteWatch:
        if cls._installed is None:
            cls._installed = cls()
            sys.addaudithook(cls._installed._hook)
        return cls._installed

    def _hook(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and not isinstance(path, int):
                with self._lock:
                    self.events.append((event, str(path)))
        elif event in _WRITE_EVENTS:
            with self._lock:
                self.events.append((event, str(args[0]) if args else ""))


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of every file under ``root`` (skipping caches and envs)."""
    found: dict[str, tuple[int, int]] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                found[os.path.relpath(entry.path, root)] = (stat.st_size, stat.st_mtime_ns)
    return found


def marked(data: bytes, marker: bytes) -> bytes:
    """The file with ``marker`` appended (decoders ignore trailing bytes), to find it on disk later."""
    return data + marker


def uploads(markers: list[bytes]) -> list[tuple[str, bytes, str]]:
    photo = Image.fromarray(hostile.photo_rgb())
    files = [
        ("face.jpg", hostile.encode(photo, "JPEG", quality=92), "image/jpeg"),
        ("cmyk.jpg", hostile.encode(photo.convert("CMYK"), "JPEG"), "image/jpeg"),
        ("group.png", hostile.encode(hostile.thirty_faces_rgb(), "PNG"), "image/png"),
        ("nobody.webp", hostile.encode(np.full((240, 320, 3), 90, np.uint8), "WEBP"), "image/webp"),
        ("rotated.jpg", hostile.encode(hostile.stored_for_orientation(photo, 6), "JPEG", exif=hostile._exif(6)),
         "image/jpeg"),
        ("notes.jpg", b"not an image at all\n" * 10, "image/jpeg"),
        ("bomb.png", hostile.png_header_bomb(30_000, 30_000), "image/png"),
        ("cut.png", hostile.encode(photo, "PNG")[:900], "image/png"),
    ]  # fmt: skip
    return [(name, marked(data, marker), mime) for (name, data, mime), marker in zip(files, markers)]


@pytest.fixture()
def private_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> dict[str, Path]:
    """Fresh temporary and working folders for this process, and a models folder with the tiny model."""
    folders = {"temp": tmp_path / "temp", "cwd": tmp_path / "cwd", "models": tmp_path / "models"}
    folders["temp"].mkdir()
    folders["cwd"].mkdir()
    shutil.copytree(tiny_model_dir, folders["models"] / "tiny")
    monkeypatch.setenv("FER_MODELS_DIR", str(folders["models"]))
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(name, str(folders["temp"]))
    monkeypatch.setattr(tempfile, "tempdir", str(folders["temp"]))
    monkeypatch.chdir(folders["cwd"])
    return folders


def test_uploads_are_never_written_to_disk_and_errors_reach_the_page(
    private_folders: dict[str, Path], tiny_model_dir: Path
) -> None:
    app = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    app.run()
    # Warm up outside the watch: the first upload loads the model (reading files, caching it).
    app.file_uploader(key="upload_files").set_value(("warm.png", hostile.png_bytes(face_scene()), "image/png"))
    app.run()
    assert not app.exception, [e.value for e in app.exception]

    markers = [os.urandom(24) for _ in range(8)]
    files = uploads(markers)
    repo_before = tree(REPO)
    watch = WriteWatch.get()
    watch.events.clear()
    watch.active = True
    try:
        app.file_uploader(key="upload_files").set_value(files)
        app.run()
    finally:
        watch.active = False
    repo_after = tree(REPO)

    assert not app.exception, [e.value for e in app.exception]
    assert watch.events == [], f"the upload path wrote to disk: {watch.events}"
    for name in ("temp", "cwd"):
        assert list(private_folders[name].iterdir()) == [], f"files appeared in the {name} folder"
    changed = [path for path, stat in repo_after.items() if repo_before.get(path) != stat]
    for path in changed:  # other work may touch the repository meanwhile; none of it may hold an upload
        content = (REPO / path).read_bytes() if (REPO / path).stat().st_size < 50 * 2**20 else b""
        assert not any(marker in content for marker in markers), f"{path} holds an uploaded file"

    # What the page shows for each file is the upload path's own answer, word for word.
    recognizer = EmotionRecognizer.from_dir(private_folders["models"] / "tiny")
    expected = {name: analyse_upload(name, data, recognizer, detector="haar") for name, data, _ in files}
    errors = [str(element.value) for element in app.error]
    assert errors == [f"Cannot read {name}: {out.error}" for name, out in expected.items() if not out.ok]
    assert len(errors) == 3
    # One probability chart per face, after the summary's chart of all the photos.
    assert len(app.get("plotly_chart")) - 1 == sum(len(out.faces) for out in expected.values()) == 1 + 1 + 30 + 1
    assert app.dataframe[0].value.shape[0] == len(files)  # the summary: a row per photo
    assert app.dataframe[-1].value.shape[0] == 33  # the results: a row per face


def test_the_watch_would_see_a_write(private_folders: dict[str, Path]) -> None:
    """Control: each of the three checks above catches a write of the kind it is for."""
    import cv2  # noqa: PLC0415

    watch = WriteWatch.get()
    watch.events.clear()
    watch.active = True
    try:
        Path("upload.bin").write_bytes(b"x")  # Python-level, into the working folder
        os.close(tempfile.mkstemp()[0])  # the temporary folder
        cv2.imwrite(str(private_folders["temp"] / "c-level.png"), face_scene())  # C code: not audited
    finally:
        watch.active = False
    seen = [(event, Path(path).name) for event, path in watch.events]
    assert ("open", "upload.bin") in seen and "tempfile.mkstemp" in {event for event, _ in seen}
    assert sorted(p.name for p in private_folders["cwd"].iterdir()) == ["upload.bin"]
    assert "c-level.png" in [p.name for p in private_folders["temp"].iterdir()]


def test_your_photos_zips_are_never_written_to_disk(private_folders: dict[str, Path]) -> None:
    """The Evaluation page's "Your photos": a ZIP of labelled photos is read, scored and shown in memory."""
    from tests.core.archives import make_zip  # noqa: PLC0415

    def labelled_zip(marker: bytes) -> bytes:
        face = marked(hostile.png_bytes(face_scene()), marker)
        return marked(make_zip([("happy/1.png", face), ("sad/2.png", face), ("labels.csv", b"path,label,group\n")]), marker)

    app = AppTest.from_file(str(REPO / "pages" / "4_Evaluation.py"), default_timeout=APP_TIMEOUT)
    app.run()
    app.radio(key="eval_source").set_value("Your photos").run()
    app.file_uploader(key="own_zip").set_value(("warm.zip", labelled_zip(b"warm"), "application/zip")).run()
    app.button(key="own_run").click().run()  # loads the model outside the watch
    assert not app.exception, [e.value for e in app.exception]

    marker = os.urandom(24)
    watch = WriteWatch.get()
    watch.events.clear()
    watch.active = True
    try:
        app.file_uploader(key="own_zip").set_value(("mine.zip", labelled_zip(marker), "application/zip")).run()
        app.button(key="own_run").click().run()
    finally:
        watch.active = False
    assert not app.exception, [e.value for e in app.exception]
    assert {m.label: m.value for m in app.metric}["Photos"] == "2"
    assert watch.events == [], f"the evaluation wrote to disk: {watch.events}"
    for name in ("temp", "cwd"):
        assert list(private_folders[name].iterdir()) == [], f"files appeared in the {name} folder"
