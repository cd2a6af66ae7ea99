"""Every command line of docs/uncertainty.md, run as written on tiny inputs (files renamed to test files)."""

from __future__ import annotations

import csv
import io
import json
import shlex
import shutil
from pathlib import Path

import cv2
import pytest

from core.cli import main as core_main
from tests.app.conftest import write_fake_fer_csv
from tests.core.faces import REPO, face_scene
from tests.core.video_clips import write_clip
from training.evaluate import main as evaluate_main

DOC = REPO / "docs" / "uncertainty.md"


def doc_commands() -> list[list[str]]:
    """The ``.venv/bin/python -m MODULE ...`` lines of the doc's bash blocks, split as a shell would."""
    return [shlex.split(line)[2:] for line in DOC.read_text().splitlines() if line.startswith(".venv/bin/python -m ")]


def test_the_doc_shows_the_commands_tested_here() -> None:
    assert [argv[:3] for argv in doc_commands()] == [
        ["training.evaluate", "--data", "fer2013.csv.gz"],
        ["core", "predict", "photo.jpg"], ["core", "predict", "photo.jpg"], ["core", "video", "clip.mp4"],
    ]  # fmt: skip


@pytest.fixture()
def inputs(tmp_path: Path, tiny_model_dir: Path) -> dict[str, str]:
    """The doc's file names mapped to tiny stand-ins."""
    cv2.imwrite(str(tmp_path / "photo.jpg"), face_scene(faces=((200, 100),)))
    frames = [face_scene(width=320, height=240, faces=((40 + 4 * i, 20),)) for i in range(4)]
    shutil.copytree(tiny_model_dir, tmp_path / "my-model")
    return {
        "photo.jpg": str(tmp_path / "photo.jpg"),
        "clip.mp4": str(write_clip(tmp_path / "clip.mp4", frames, fps=8)),
        "fer2013.csv.gz": str(write_fake_fer_csv(tmp_path / "fer2013.csv.gz")),
        "models/my-model": str(tmp_path / "my-model"),
    }


def test_every_doc_command_runs(inputs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    for argv in doc_commands():
        module, *args = (inputs.get(arg, arg) for arg in argv)
        if module == "training.evaluate":
            assert evaluate_main(args) == 0
            assert "'A or B' when the top two are within" in capsys.readouterr().out
            assert "uncertainty" in json.loads((Path(inputs["models/my-model"]) / "metadata.json").read_text())
            continue
        # The core commands use the shipped default model, as the doc's lines do.
        assert core_main([*args, "--quiet"]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        if "csv" in args:
            header = next(csv.reader(io.StringIO(out)))
            assert {"label", "group"} <= set(header)
        else:
            face = json.loads(out)[0]["faces"][0]
            assert {"uncertain", "label", "group", "group_probabilities"} <= set(face)
