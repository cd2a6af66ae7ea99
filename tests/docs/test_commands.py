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
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.labels import EMOTIONS, FER2013_TERMS
from tests.core.faces import face_scene
from tests.core.video_clips import write_clip
from tests.docs.documented import (
    INSTALL,
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
from tests.real_data import REAL_FER2013, SKIP_REASON
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
    for emotion in ("happy", "sad"):  # face crops in emotion folders, for `training.photos --crops`
        (root / "labelled-crops" / emotion).mkdir(parents=True)
        cv2.imwrite(str(root / "labelled-crops" / emotion / "01.png"), np.full((48, 48), 120, np.uint8))
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
    assert rows[0]["face"] == "" and rows[1]["face"] == "1" and rows[1]["emotion"] in EMOTIONS  # MTCNN found it
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["blank.annotated.png", "face.annotated.png"]

    code, out = cli("predict crops", capsys, crops=media["crops"], model=tiny_model_dir)
    assert code == 0 and [r["faces"][0]["box"] for r in json.loads(out)] == [[0, 0, 48, 48]] * 2

    code, out = cli("predict small faces", capsys, photo=media["photo"], model=tiny_model_dir)
    (report,) = json.loads(out)
    assert code == 0 and len(report["faces"]) == 1

    code, out = cli("predict min score", capsys, photo=media["photo"], model=tiny_model_dir)
    (report,) = json.loads(out)
    assert code == 0 and len(report["faces"]) == 1 and report["faces"][0]["detection_score"] >= 0.3

    code, out = cli("predict no verify", capsys, photo=media["photo"], model=tiny_model_dir)
    (report,) = json.loads(out)
    assert code == 0 and len(report["faces"]) == 1  # the drawn face, as with the verifier


def test_video_commands(media: dict[str, Path], tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code, out = cli("video csv", capsys, clip=media["clip"], model=tiny_model_dir)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [int(r["frame"]) for r in rows] == list(range(10))
    assert sum(r["face"] == "1" for r in rows) >= 8

    annotated = tmp_path / "clip.annotated.mp4"
    code, out = cli("video annotate", capsys, clip=media["clip"], annotated=annotated, model=tiny_model_dir)
    (report,) = json.loads(out)
    assert code == 0 and report["error"] is None
    assert [row["frame"] for row in report["timeline"]] == [0, 2, 4, 6, 8]  # 5 of the clip's 10 frames a second
    assert any(row.get("smoothed_emotion") in EMOTIONS for row in report["timeline"])
    assert annotated.stat().st_size > 0

    code, out = cli("video min score", capsys, clip=media["clip"], model=tiny_model_dir)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and sum(r["face"] == "1" for r in rows) >= 8 and all(float(r["detection_score"]) >= 0.3 for r in rows if r["face"])


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
    tuned = models / "my-tuned"
    assert cli("train init", capsys, csv=data, run=run, tuned=tuned)[0] == 0
    assert metadata(tuned)["init"]["name"] == "my-model" and metadata(tuned)["config"]["learning_rate"] == 2e-4

    assert cli("evaluate choose", capsys, csv=data, run=run)[0] == 0
    chosen = metadata(run)["tta"]
    assert chosen["split"] == "PublicTest" and chosen["chosen"] in ("none", "flip", "tencrop")
    assert cli("evaluate choose cheap", capsys, csv=data, run=run)[0] == 0
    cheap = metadata(run)["tta"]
    assert set(cheap["accuracy"]) == {"none", "flip"} and cheap["chosen"] in ("none", "flip")
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
    members = tmp_path / "members"
    assert cli("members", capsys, ensemble=ensemble, out=members)[0] == 0
    kept = [m["name"] for m in metadata(ensemble)["members"]]
    assert sorted(p.name for p in members.iterdir()) == sorted(kept)
    assert all(metadata(members / name)["extracted"]["ensemble"] == "my-ensemble" for name in kept)

    for tflite in run.glob("*.tflite"):
        tflite.unlink()
    assert cli("export", capsys, run=run)[0] == 0
    assert (run / metadata(run)["tflite_file"]).is_file()


def test_photos_commands(media: dict[str, Path], tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    photos = tmp_path / "my-photos"
    for emotion in ("happy", "sad"):
        (photos / emotion).mkdir(parents=True)
        cv2.imwrite(str(photos / emotion / "01.png"), face_scene(faces=((200, 100),)))
    code, out = cli("photos", capsys, photos=photos, model=tiny_model_dir)
    # The tiny model is untrained: what counts is that both photos are read, labelled and found.
    assert "original: " in out and "/2 right" in out and "over the 2 with a face" in out, out
    assert "ck: " in out and "recall: happy" in out and "sad 0." in out or "sad 1." in out

    archive = shutil.make_archive(str(tmp_path / "my-photos"), "zip", photos)
    code, out = cli("photos zip json", capsys, zip=archive, model=tiny_model_dir)
    report = json.loads(out)
    (entry,) = report["models"].values()
    assert report["n"] == 2 and list(entry["styles"]) == ["original"], report
    rows = entry["styles"]["original"]["rows"]
    assert sorted((Path(r["file"]).parent.name, r["label"]) for r in rows) == [("happy", "happy"), ("sad", "sad")], rows
    assert entry["styles"]["original"]["found"] == 2

    code, out = cli("photos crops two models", capsys, crops=media["crops"].parent / "labelled-crops", model=tiny_model_dir)
    assert out.count("/2 right") == 2 and "fast" in out and "tiny" in out, out

    # 35 photos in one group: enough for the default warning (30), too few for --min-group 50.
    grouped = tmp_path / "grouped"
    grouped.mkdir()
    scene = face_scene(faces=((200, 100),))
    for i in range(35):
        cv2.imwrite(str(grouped / f"{i:02d}.png"), scene)
    (grouped / "labels.csv").write_text("path,label,group\n" + "".join(f"{i:02d}.png,happy,studio\n" for i in range(35)))
    code, out = cli("photos min group", capsys, photos=grouped, model=tiny_model_dir)
    (line,) = [x for x in out.splitlines() if x.strip().startswith("group studio:")]
    assert "/35 " in line and line.endswith("[too few photos]") and "ck: " not in out, out

    own = tmp_path / "models" / "my-model"
    shutil.copytree(tiny_model_dir, own)  # --record writes into the model's metadata.json
    code, out = cli("photos record", capsys, photos=grouped, own=own)
    (entry,) = json.loads((own / "metadata.json").read_text())["real_photos"]
    assert code == 0 and (entry["set"], entry["photos"]) == ("grouped", 35)


def test_detection_saliency_and_group_commands(media: dict[str, Path], tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code, out = cli("predict show dropped", capsys, photo=media["photo"], model=tiny_model_dir)
    (report,) = json.loads(out)
    assert code == 0 and len(report["faces"]) == 1 and "dropped" in report

    why = tmp_path / "why"
    code, out = cli("predict explain", capsys, folder=media["folder"], why=why, model=tiny_model_dir)
    assert code == 0 and [p.name for p in why.iterdir()] == ["face.face-1.why.png"]

    code, out = cli("predict groups", capsys, photo=media["photo"], model=tiny_model_dir)
    (face,) = json.loads(out)[0]["faces"]
    assert face["group"] in ("positive", "negative", "neutral", "surprise") and len(face["group_probabilities"]) == 4

    code, out = cli("predict groups csv", capsys, photo=media["photo"], model=tiny_model_dir)
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["group"] in ("happy", "other")
    assert float(row["group_prob_happy"]) + float(row["group_prob_other"]) == pytest.approx(1.0, abs=1e-3)

    code, out = cli("video groups", capsys, clip=media["clip"], model=tiny_model_dir)
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["face"]]
    assert len(rows) >= 8 and all(r["group"] in ("positive", "negative", "neutral", "surprise") for r in rows)


def test_recipe_checkpoint_and_jitter_commands(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    data = write_fer_csv(tmp_path / "fer2013.csv", train_per_class=4, test_per_class=2)
    ferplus = write_ferplus(tmp_path / "fer2013new.csv", 7 * (4 + 2 + 2))
    run, compact, continued = tmp_path / "run", tmp_path / "compact", tmp_path / "continued"

    def metadata(model: Path) -> dict:
        return json.loads((model / "metadata.json").read_text())

    assert cli("train serve recipes", capsys, csv=data, run=run)[0] == 0
    config = metadata(run)["config"]
    assert config["augment"]["serve_jitter"] == "photo" and metadata(run)["serve_jitter"]["path"] == "photo"
    assert config["photometric"] == 0.2 and config["equalize"] is True
    assert cli("evaluate uncertainty", capsys, csv=data, run=run)[0] == 0
    assert set(metadata(run)["uncertainty"]) >= {"min_margin", "min_confidence"}

    assert cli("checkpoint compact", capsys, run=run, compact=compact)[0] == 0
    assert (compact / "checkpoint" / "state.json").is_file()
    assert cli("train resume from", capsys, csv=data, compact=compact, continued=continued)[0] == 0
    assert metadata(continued)["epochs_run"] == 3 and metadata(continued)["compact_resumes"]
    assert (compact / "checkpoint" / "state.json").is_file()  # the copy itself is never written to

    assert cli("train webcam jitter", capsys, csv=data, run=tmp_path / "webcam")[0] == 0
    assert metadata(tmp_path / "webcam")["config"]["augment"]["serve_jitter"] == "webcam"
    assert cli("train ferplus blend", capsys, csv=data, run=tmp_path / "blend", ferplus=ferplus)[0] == 0
    assert metadata(tmp_path / "blend")["config"]["ferplus_blend"] == 0.5


@pytest.mark.skipif(REAL_FER2013 is None, reason=SKIP_REASON)
def test_jitter_commands(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    # Real Training faces: the detectors re-find pasted faces, not the synthetic ones.
    photo, webcam = tmp_path / "photo.json", tmp_path / "webcam.json"
    assert cli("jitter photo", capsys, csv=REAL_FER2013, out=photo)[0] == 0
    assert cli("jitter webcam", capsys, csv=REAL_FER2013, out=webcam)[0] == 0
    for path, out in (("photo", photo), ("webcam", webcam)):
        report = json.loads(out.read_text())
        assert report["what"].startswith(f"the {path} path's crop") and report["faces"] == 40, report
        assert 10 <= report["refound"] <= 40 and set(report["summary"]) == {"dx", "dy", "log_scale", "degrees"}


def test_batch_commands(media: dict[str, Path], tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    import pandas as pd  # noqa: PLC0415

    out = tmp_path / "results"
    code, printed = cli("batch", capsys, photo=media["photo"], clip=media["clip"], out=out, model=tiny_model_dir)
    rows = pd.read_parquet(out)
    assert code == 0 and set(rows["path"].map(lambda p: Path(p).name)) == {"photo.png", "clip.mp4"}
    assert (rows["frame"].notna()).sum() == 10 and json.loads((out / "_summary.json").read_text())
    code, printed = cli("batch resume", capsys, photo=media["photo"], clip=media["clip"], out=out, model=tiny_model_dir)
    assert code == 0 and len(pd.read_parquet(out)) == len(rows)


def test_false_faces_commands(media: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    pytest.importorskip("skimage", reason="scikit-image is a development dependency")
    data = write_fer_csv(tmp_path / "fer2013.csv", train_per_class=1, test_per_class=1)
    samples, posed = tmp_path / "samples", tmp_path / "posed"
    samples.mkdir()
    (posed / "happy").mkdir(parents=True)
    shutil.copy(media["photo"], samples / "one_face_smiling.jpg")
    shutil.copy(media["photo"], posed / "happy" / "01.png")
    out = tmp_path / "false.json"
    code, printed = cli("false faces", capsys, samples=samples, posed=posed, csv=data, out=out)
    materials = json.loads(out.read_text())["materials"]
    assert code == 0 and materials["sample photos"]["images"] == 1 and materials["posed one-face photos"]["faces"] == 1
    assert materials["FER2013 pasted"]["images"] == 2 and "| material |" in printed
    code, printed = cli("false faces explore", capsys, out=out)
    result = json.loads(out.read_text())
    assert "FER2013 pasted" not in result["materials"] and all(r["images"] == 1 for r in result["materials"].values())
    assert isinstance(result["low_boxes"], list)
    # Pictures without people, an animal photo (seen whole, mirrored, at 320 px), one with a person left out.
    from benchmarks.false_faces import draw_animal, on_canvas  # noqa: PLC0415

    scenes, counted = tmp_path / "scenes", tmp_path / "counted"
    for folder in (scenes / "data", scenes / "explore_farm_animals" / "animals", counted):
        folder.mkdir(parents=True)
    cv2.imwrite(str(scenes / "room.png"), np.full((240, 320, 3), 90, np.uint8))
    cv2.imwrite(str(scenes / "explore_farm_animals" / "animals" / "dog.webp"), on_canvas(draw_animal(80, "dog")))
    shutil.copy(media["photo"], scenes / "data" / "messi5.jpg")
    shutil.copy(media["photo"], counted / "gauss.png")  # a portrait of one face
    values = {"samples": samples, "posed": posed, "csv": data, "scenes": scenes, "counted": counted, "out": out}
    code, printed = cli("false faces scenes", capsys, **values)
    materials = json.loads(out.read_text())["materials"]
    assert materials["scenes without people"]["images"] == 1 and materials["animal photos"]["images"] == 2  # --limit 2
    assert materials["group photo and portraits"]["faces"] == 1
    assert "| checks + O-Net | checks + verifier (O-Net, face mesh) |" in printed


def test_qt_resources_command(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tests.benchmarks.test_qt_resources import ZLIB, _rcc  # noqa: PLC0415

    rcc = tmp_path / "erase.rcc"
    rcc.write_bytes(_rcc({"owl.webp": (b"an owl", ZLIB)}))
    code, printed = cli("qt resources", capsys, out=tmp_path / "gcompris", rcc=rcc)
    assert code == 0 and "erase.rcc: 1 files" in printed
    assert (tmp_path / "gcompris" / "erase" / "animals" / "owl.webp").read_bytes() == b"an owl"


def test_face_verifier_command(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from core.verifier import VERIFIER_FILE, FaceVerifier, verifier_crop  # noqa: PLC0415

    out = tmp_path / "assets" / "onet.tflite"
    code, printed = cli("face verifier", capsys, out=out)  # imports TensorFlow
    assert code == 0 and f"wrote {out}: 0.41 MB" in printed
    assert out.stat().st_mode & 0o444 == 0o444  # readable by the server's user, not mkstemp's 0600
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    scene = face_scene()
    crops = np.stack([verifier_crop(scene, (263, 153, 75, 99)), verifier_crop(scene, (0, 0, 90, 90))])
    made, shipped = FaceVerifier(model_path=out), FaceVerifier(model_path=VERIFIER_FILE)
    np.testing.assert_allclose(made.network_probabilities(crops), shipped.network_probabilities(crops), atol=1e-6)


def test_every_install_line_names_a_requirements_file() -> None:
    installs = [
        m.group(1) for path in documentation_files() for line in path.read_text().splitlines()
        if (m := INSTALL.match(line.strip()))
    ]  # fmt: skip
    assert "requirements-ray.txt" in installs and all((REPO / name).is_file() for name in installs), installs


def test_adapt_to_your_photos(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.training.test_adapt import write_drawn_people  # noqa: PLC0415

    photos = write_drawn_people(tmp_path / "photos")
    out = tmp_path / "models" / "mine"
    code, text = cli("adapt", capsys, photos=photos, out=out, model=tiny_model_dir)
    assert "held-out" in text.lower() and (out / "metadata.json").is_file()
    assert json.loads((out / "metadata.json").read_text())["adapted"]["split"] == "person"
    csv = write_fer_csv(tmp_path / "fer2013.csv")
    replayed = tmp_path / "models" / "replayed"
    cli("adapt replay", capsys, photos=photos, out=replayed, model=tiny_model_dir, csv=csv)
    assert json.loads((replayed / "metadata.json").read_text())["adapted"]["replay"] == 20
    code, text = cli("adapt cv", capsys, photos=photos, model=tiny_model_dir, csv=csv)
    assert "2-fold person-wise cross-validation over 6 people" in text and "2 people learnt a fold" in text
    everyone = tmp_path / "models" / "everyone"
    cli("adapt everyone", capsys, photos=photos, out=everyone, model=tiny_model_dir, csv=csv)
    assert json.loads((everyone / "metadata.json").read_text())["adapted"]["held_out"]["photos"] == 0


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
    (job,) = normalise("RAY_AUTH_MODE=token ray job submit --address http://h:8265 -- python -m batch in --out o")
    assert (job.program, job.options) == ("batch", frozenset({"--out"}))
    assert shown_commands("```bash\npip install -r requirements-ray.txt  # Ray\n```", where="x.md") == []
