"""Fixtures for the batch tests: one local two-CPU Ray per test session, a small synthetic archive, a clean run.

The archive: 24 drawn photos (one face, two faces or none, PNG and JPEG, several sizes), five bad
files (corrupt, truncated, empty, a PNG named .mp4 and an MP4 named .jpg) and two short clips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from tests.core.faces import face_scene
from tests.core.video_clips import write_clip

# Options every run of the tests uses: small tasks and files, so a run has many of each.
RUN_OPTIONS: tuple[str, ...] = ("--images-per-task", "3", "--rows-per-file", "4", "--fps", "6", "--smooth", "--quiet")


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A local Ray with two CPUs, started once per session (``RAY_ADDRESS`` unset); yields its address."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    saved = os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if saved is not None:
            os.environ["RAY_ADDRESS"] = saved


def _photo(index: int) -> tuple[str, object]:
    size = (60, 80, 100)[index % 3]
    if index % 6 == 5:
        return ".png", face_scene(width=320, height=240, faces=())
    if index % 4 == 3:
        return ".png", face_scene(width=480, height=260, faces=((10, 20), (250, 20)), size=size + 10 - size % 10)
    return (".jpg" if index % 2 else ".png"), face_scene(width=320 + 8 * index, height=240, faces=((10 + 4 * index, 15),), size=size)


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of photos, bad files and two clips (see the module docstring)."""
    root = tmp_path_factory.mktemp("archive")
    photos = root / "photos"
    photos.mkdir()
    for index in range(24):
        suffix, image = _photo(index)
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix == ".jpg" else []
        cv2.imwrite(str(photos / f"photo{index:02d}{suffix}"), image, params)
    bad = root / "bad"
    bad.mkdir()
    (bad / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    good = (photos / "photo00.png").read_bytes()
    (bad / "truncated.png").write_bytes(good[: len(good) // 2])
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "photo.mp4").write_bytes(good)
    clips = root / "clips"
    clips.mkdir()
    walk = [face_scene(width=320, height=240, faces=((40 + 4 * i, 20),)) for i in range(8)]
    walk += [face_scene(width=320, height=240, faces=())] * 4
    write_clip(clips / "walk.mp4", walk, fps=8)
    pair = [face_scene(width=480, height=240, faces=((10, 20), (250 - 3 * i, 20)), size=100) for i in range(10)]
    write_clip(clips / "pair.mp4", pair, fps=8)
    (bad / "clip.jpg").write_bytes((clips / "walk.mp4").read_bytes())
    return root


def batch_run(*argv: str) -> tuple[int, str, str]:
    """``python -m batch`` in this process; returns (exit status, stdout, stderr)."""
    import io  # noqa: PLC0415

    from batch.cli import main  # noqa: PLC0415

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def clean_run(ray_address: str, archive: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The archive through ``python -m batch`` with two one-CPU workers on the two-CPU Ray, undisturbed."""
    out = tmp_path_factory.mktemp("clean") / "out"
    code, stdout, stderr = batch_run(str(archive), "--out", str(out), "--model", str(tiny_model_dir), "--workers", "2", *RUN_OPTIONS)
    return {"out": out, "code": code, "stdout": stdout, "stderr": stderr}


def read_rows(folder: Path):  # noqa: ANN201 - pandas is imported lazily
    """The dataset in ``folder`` as a DataFrame in a fixed order (path, frame, face)."""
    import pandas as pd  # noqa: PLC0415

    frame = pd.read_parquet(folder)
    return frame.sort_values(["path", "frame", "face"], na_position="first", kind="stable").reset_index(drop=True)
