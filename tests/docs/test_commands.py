"""Every command line the README and ``docs/`` show runs here, on tiny synthetic inputs.

The commands run are :data:`tests.docs.documented.TESTED`; :func:`test_every_documented_command_is_tested`
fails when a page shows a command (a program or an option) that none of them runs, so a new
command in the documentation needs a test here. Training runs use ``--arch tiny`` on a synthetic
``fer2013.csv``; the photo and video commands use one untrained tiny model and drawn faces.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.labels import EMOTIONS, FER2013_TERMS
from tests.core.faces import face_scene
from tests.core.video_clips import write_clip
from tests.docs.documented import (
    REPO,
    SETUP_COMMANDS,
    TESTED,
    cli,
    documentation_files,
    normalise,
    shown_commands,
    commands_run_by_tests,
    uncovered,
)
from tests.reliability.test_faults import write_fer_csv

THIS_FILE = Path(__file__)


# --- tiny inputs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A photo with one drawn face, a folder (that photo and one without a face), face crops, a clip."""
    root = tmp_path_factory.mktemp("media")
    photo = root / "photo.png"
    cv2.imwrite(str(photo), face_scene(faces=((200, 100),)))
    folder = root / "holiday"
    folder.mkdir()
    cv2.imwrite(str(folder / "face.png"), face_scene(faces=((40, 30),)))
    cv2.imwrite(str(folder / "blank.jpg"), np.full((120, 160, 3), 60, np.uint8))
    crops = root / "crops"
    crops.mkdir()
    for index in range(2):
        cv2.imwrite(str(crops / f"crop{index}.png"), np.full((48, 48), 80 + 60 * index, np.uint8))
    frames = [face_scene(width=320, height=240, faces=((40 + 4 * i, 20),)) for i in range(10)]
    clip = write_clip(root / "clip.mp4", frames, fps=10)
    return {"photo": photo, "folder": folder, "crops": crops, "clip": clip, "root": root}


def write_ferplus(path: Path, rows: int) -> Path:
    """FER+ votes (``fer2013new.csv`` layout) for ``rows`` faces of the synthetic CSV: all happy."""
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    lines = [f"Training,fer{i}.png,1,9,0,0,0,0,0,0,0,0" for i in range(rows)]
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


# --- the commands ------------------------------------------------------------------------------


def test_predict_commands(media: dict[str, Path], tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code, out = cli("predict json", capsys, photo=media["photo"], folder=media["folder"], model=tiny_model_dir)
    reports = json.loads(out)
    assert code == 0 and [Path(r["path"]).name for r in reports] == ["photo.png", "blank.jpg", "face.png"]
    assert [len(r["faces"]) for r in reports] == [1, 0, 1]
    assert reports[0]["faces"][0]["emotion"] in EMOTIONS

    code, out = cli("predict csv annotate", capsys, folder=media["folder"], out=tmp_path / "out", model=tiny_model_dir)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [Path(r["path"]).name for r in rows] == ["blank.jpg", "face.png"]
    assert rows[0]["face"] == "" and rows[1]["face"] == "0" and rows[1]["emotion"] in EMOTIONS  # MTCNN found it
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["blank.annotated.png", "face.annotated.png"]

    code, out = cli("predict crops", capsys, crops=media["crops"], model=tiny_model_dir)
    assert code == 0 and [r["faces"][0]["box"] for r in json.loads(out)] == [[0, 0, 48, 48]] * 2

    code, out = cli("predict small faces", capsys, photo=media["photo"], model=tiny_model_dir)
    (report,) = json.loads(out)
    assert code == 0 and len(report["faces"]) == 1


def test_video_commands(media: dict[str, Path], tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code, out = cli("video csv", capsys, clip=media["clip"], model=tiny_model_dir)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [int(r["frame"]) for r in rows] == list(range(10))
    assert sum(r["face"] == "0" for r in rows) >= 8

    annotated = tmp_path / "clip.annotated.mp4"
    code, out = cli("video annotate", capsys, clip=media["clip"], annotated=annotated, model=tiny_model_dir)
    (report,) = json.loads(out)
    assert code == 0 and report["error"] is None
    assert [row["frame"] for row in report["timeline"]] == [0, 2, 4, 6, 8]  # 5 of the clip's 10 frames a second
    assert any(row.get("smoothed_emotion") in EMOTIONS for row in report["timeline"])
    assert annotated.stat().st_size > 0


def test_training_commands(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    data = write_fer_csv(tmp_path / "fer2013.csv", train_per_class=4, test_per_class=2)
    ferplus = write_ferplus(tmp_path / "fer2013new.csv", 7 * (4 + 2 + 2))
    models = tmp_path / "models"
    run, swa, ensemble = (models / name for name in ("my-model", "my-swa", "my-ensemble"))
    teacher = tiny_model_dir

    def metadata(model: Path) -> dict:
        return json.loads((model / "metadata.json").read_text())

    assert cli("train", capsys, csv=data, run=run, teacher=teacher)[0] == 0
    first = metadata(run)
    assert first["epochs_run"] == 2 and first["terms_of_use"] == FER2013_TERMS
    assert first["config"]["mixup"] == 0.2 and first["config"]["distill_weight"] == 0.5
    assert first["config"]["distill_temperature"] == 2 and first["teacher"]
    assert sorted(p.name for p in (run / "checkpoint").glob("epoch-*.keras")) == ["epoch-001.keras", "epoch-002.keras"]
    assert cli("train resume", capsys, csv=data, run=run)[0] == 0
    assert metadata(run)["epochs_run"] == 3 and metadata(run)["restarts"]

    assert cli("evaluate choose", capsys, csv=data, run=run)[0] == 0
    chosen = metadata(run)["tta"]
    assert chosen["split"] == "PublicTest" and chosen["chosen"] in ("none", "flip", "tencrop")
    assert cli("evaluate split", capsys, csv=data, run=run)[0] == 0
    report = json.loads((run / "evaluation.json").read_text())
    assert report["split"] == "PrivateTest" and report["tta"] == "flip"
    assert cli("evaluate ferplus", capsys, csv=data, run=run, ferplus=ferplus)[0] == 0
    assert "ferplus" in json.loads((run / "evaluation.json").read_text())

    assert cli("average", capsys, csv=data, run=run, swa=swa)[0] == 0
    assert metadata(swa)["averaged_epochs"] == [1, 2] and metadata(swa)["terms_of_use"] == FER2013_TERMS
    assert cli("ensemble", capsys, csv=data, run=run, teacher=teacher, ensemble=ensemble)[0] == 0
    assert metadata(ensemble)["architecture"] == "ensemble" and metadata(ensemble)["selection"]["method"] == "greedy"
    assert metadata(ensemble)["terms_of_use"] == FER2013_TERMS

    for tflite in run.glob("*.tflite"):
        tflite.unlink()
    assert cli("export", capsys, run=run)[0] == 0
    assert (run / metadata(run)["tflite_file"]).is_file()


def test_photos_command(media: dict[str, Path], tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    photos = tmp_path / "my-photos"
    photos.mkdir()
    for name in ("happy_01.png", "sad_01.png"):
        cv2.imwrite(str(photos / name), face_scene(faces=((200, 100),)))
    code, out = cli("photos", capsys, photos=photos, model=tiny_model_dir)
    # The tiny model is untrained: what counts is that both photos are read, labelled and found.
    assert "original: " in out and "/2 right" in out and "a face found in 2" in out, out
    assert "happy_01.png" in out and "sad_01.png" in out and "ck: " in out


# --- the documentation and the commands above ---------------------------------------------------


def test_every_documented_command_is_tested() -> None:
    documented = [c for path in documentation_files() for c in shown_commands(path.read_text(), where=path.name)]
    assert len(documented) >= 20 and {"core predict", "core video", "training.train"} <= {c.program for c in documented}
    missing = uncovered(documented, commands_run_by_tests())
    assert missing == [], "commands shown in the documentation that no test runs (add them to TESTED):\n" + "\n".join(
        f"{c.where}: {c.text}  [{c.program} {' '.join(sorted(c.options))}]" for c in missing
    )


def test_every_tested_command_runs_in_a_test() -> None:
    source = THIS_FILE.read_text() + (REPO / "tests" / "benchmarks" / "test_quick_run.py").read_text()
    assert [name for name in TESTED if f'cli("{name}"' not in source] == []


def test_the_setup_commands_are_the_readmes_and_ci_runs_the_test_command_verbatim() -> None:
    readme = (REPO / "README.md").read_text()
    assert all(f"```bash\n{command}\n```" in readme for command in SETUP_COMMANDS)
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert SETUP_COMMANDS[1] in ci_lines


def test_reading_commands_from_markdown() -> None:
    page = "\n".join([
        "Run `python -m core predict a.jpg --crops` or see `python3` alone.",
        "```bash",
        "# a comment line",
        ".venv/bin/python -m training.train ... --mixup 0.2   # trailing comment",
        "FOO=1 python -m core video c.mp4 \\",
        "    --format csv > timeline.csv",
        ".venv/bin/python -m training.evaluate --data d --model m [--tta flip|tencrop]",
        "```",
        "```toml",
        "python -m not.a.command = 1",
        "```",
    ])  # fmt: skip
    found = [(c.where, c.program, sorted(c.options)) for c in shown_commands(page, where="page.md")]
    assert found == [
        ("page.md:1", "core predict", ["--crops"]),
        ("page.md:4", "training.train", ["--mixup"]),
        ("page.md:6", "core video", ["--format"]),
        ("page.md:7", "training.evaluate", ["--data", "--model", "--tta"]),
    ]
    with pytest.raises(ValueError, match="does not run `python -m MODULE`"):
        shown_commands("```bash\nbash .ci/run\n```", where="x.md")
    tested = normalise("python -m core predict x --crops --quiet")
    assert uncovered(normalise("python -m core predict y --crops"), tested) == []
    assert len(uncovered(normalise("python -m core predict y --crops --tta flip"), tested)) == 1
    assert len(uncovered(normalise("python -m core video y --crops"), tested)) == 1
