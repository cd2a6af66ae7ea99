"""Every command line of docs/your-photos.md runs, on tiny inputs (drawn faces, the tiny model)."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import cv2
import pytest

from tests.core.archives import make_zip
from tests.core.faces import draw_face, face_scene
from training.photos import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "your-photos.md"
PREFIX = ".venv/bin/python -m training.photos "


def doc_commands() -> list[str]:
    return [line.strip()[len(PREFIX) :] for line in DOC.read_text().splitlines() if line.strip().startswith(PREFIX)]


def test_the_doc_shows_commands() -> None:
    assert len(doc_commands()) >= 4


@pytest.mark.parametrize("command", doc_commands())
def test_doc_command_runs(command: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos, crops = tmp_path / "my-photos", tmp_path / "my-crops"
    for folder, x in (("happy", 100), ("Sadness", 250)):
        (photos / folder).mkdir(parents=True)
        cv2.imwrite(str(photos / folder / "1.jpg"), face_scene(faces=((x, 100),)))
        (crops / folder).mkdir(parents=True)
        cv2.imwrite(str(crops / folder / "1.png"), draw_face(48))
    (photos / "labels.csv").write_text("path,label,group\nhappy/1.jpg,happy,indoor\n")
    (tmp_path / "my-photos.zip").write_bytes(make_zip((p.relative_to(photos).as_posix(), p.read_bytes())
                                                      for p in sorted(photos.rglob("*")) if p.is_file()))  # fmt: skip
    shutil.copytree(tiny_model_dir, tmp_path / "my-other-model")
    shutil.copytree(tiny_model_dir, tmp_path / "my-model")  # --record writes into it
    names = {"my-photos": photos, "my-photos.zip": tmp_path / "my-photos.zip", "my-crops": crops,
             "fast": tiny_model_dir, "my-other-model": tmp_path / "my-other-model", "my-model": tmp_path / "my-model"}  # fmt: skip
    argv = [str(names.get(arg, arg)) for arg in shlex.split(command)]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert ("tiny" in out or "my-model" in out) and ("right over all photos" in out or '"accuracy_found"' in out)
    if "--record" in command:
        assert "real_photos" in (tmp_path / "my-model" / "metadata.json").read_text()
