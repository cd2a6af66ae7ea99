"""``python -m core predict`` end to end on a temporary folder of drawn faces and bad files."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.reports import CSV_COLUMNS
from core.labels import EMOTIONS
from tests.core.faces import REPO, face_scene


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """face.png (one drawn face), blank.jpg (no face), broken.jpg (text), sub/empty.png (0 bytes)."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    cv2.imwrite(str(root / "face.png"), face_scene(faces=((200, 100),)))
    cv2.imwrite(str(root / "blank.jpg"), np.full((120, 160, 3), 60, np.uint8))
    (root / "broken.jpg").write_text("this is not an image\n")
    (root / "sub" / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("ignored: not an image extension\n")
    return root


def run_json(capsys, *argv: str) -> tuple[int, list[dict]]:
    code = main(["predict", *argv, "--quiet"])
    return code, json.loads(capsys.readouterr().out)


def test_json_for_a_folder(capsys, folder: Path, tiny_model_dir: Path) -> None:
    code, reports = run_json(capsys, str(folder), "--model", str(tiny_model_dir))
    assert code == 1  # two files could not be read
    by_name = {Path(r["path"]).name: r for r in reports}
    assert [Path(r["path"]).relative_to(folder).as_posix() for r in reports] == [
        "blank.jpg", "broken.jpg", "face.png", "sub/empty.png",
    ]  # fmt: skip
    assert all(set(r) == {"path", "faces", "error"} for r in reports)
    face = by_name["face.png"]
    assert face["error"] is None and len(face["faces"]) == 1
    result = face["faces"][0]
    assert result["face"] == 1  # the number drawn on it, as in the CSV and the app
    assert len(result["box"]) == 4 and all(isinstance(v, int) for v in result["box"])
    assert result["emotion"] in EMOTIONS and list(result["probabilities"]) == list(EMOTIONS)
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert by_name["blank.jpg"] == {"path": str(folder / "blank.jpg"), "faces": [], "error": None}
    assert "not a supported image" in by_name["broken.jpg"]["error"] and by_name["broken.jpg"]["faces"] == []
    assert "empty (0 bytes)" in by_name["empty.png"]["error"]


def test_csv_one_row_per_face_or_per_faceless_image(capsys, folder: Path, tiny_model_dir: Path) -> None:
    code = main(["predict", str(folder), "--model", str(tiny_model_dir), "--format", "csv", "--quiet"])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert code == 1
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0][8:15] == [f"prob_{name}" for name in EMOTIONS]
    body = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert len(body) == 4
    face = next(r for r in body if r["path"].endswith("face.png"))
    assert face["face"] == "1" and face["error"] == "" and face["emotion"] in EMOTIONS
    assert int(face["w"]) > 50 and float(face["confidence"]) > 0
    assert sum(float(face[f"prob_{name}"]) for name in EMOTIONS) == pytest.approx(1.0, abs=1e-5)
    blank = next(r for r in body if r["path"].endswith("blank.jpg"))
    assert blank["face"] == "" and blank["emotion"] == "" and blank["error"] == ""
    broken = next(r for r in body if r["path"].endswith("broken.jpg"))
    assert broken["face"] == "" and "not a supported image" in broken["error"]


def test_all_readable_exits_zero(capsys, folder: Path, tiny_model_dir: Path) -> None:
    files = [str(folder / "face.png"), str(folder / "blank.jpg")]
    code, reports = run_json(capsys, *files, "--model", str(tiny_model_dir))
    assert code == 0 and [len(r["faces"]) for r in reports] == [1, 0]


def test_crops_mode_box_is_the_whole_image(capsys, folder: Path, tiny_model_dir: Path) -> None:
    code, [report] = run_json(capsys, str(folder / "blank.jpg"), "--crops", "--model", str(tiny_model_dir))
    assert code == 0 and report["faces"][0]["box"] == [0, 0, 160, 120]


def test_min_face_size_option(capsys, folder: Path, tiny_model_dir: Path) -> None:
    _, [report] = run_json(capsys, str(folder / "face.png"), "--min-face-size", "300", "--model", str(tiny_model_dir))
    assert report["faces"] == []


def test_annotate_writes_unique_pngs(capsys, tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    scene = face_scene(faces=((200, 100),))
    for name in ("a.png", "a.jpg", "sub/a.png"):
        cv2.imwrite(str(src / name), scene)
    (src / "bad.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    code = main(["predict", str(src), "--annotate", str(out), "--model", str(tiny_model_dir), "--quiet"])
    capsys.readouterr()
    assert code == 1
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a-2.annotated.png", "a.annotated.png", "sub__a.annotated.png"]
    for path in out.iterdir():
        image = cv2.imread(str(path))
        assert image.shape == scene.shape and (image != scene).any()


def test_bad_model_path_is_a_one_line_error(capsys, folder: Path, tmp_path: Path) -> None:
    code = main(["predict", str(folder), "--model", str(tmp_path / "no-such-model")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model directory not found:") and "no-such-model" in lines[0]


def test_broken_model_directory(capsys, folder: Path, tmp_path: Path) -> None:
    (tmp_path / "broken-model").mkdir()
    code = main(["predict", str(folder), "--model", str(tmp_path / "broken-model")])
    assert code == 2 and "error: model 'broken-model' cannot be used" in capsys.readouterr().err


def test_missing_path_and_empty_folder_are_reported(capsys, tmp_path: Path, tiny_model_dir: Path) -> None:
    (tmp_path / "nothing").mkdir()
    paths = [str(tmp_path / "gone.jpg"), str(tmp_path / "nothing")]
    code, reports = run_json(capsys, *paths, "--model", str(tiny_model_dir))
    assert code == 1
    assert "image file not found" in reports[0]["error"]
    assert "no images in folder" in reports[1]["error"] and ".jpg" in reports[1]["error"]


def test_usage_errors(capsys, tiny_model_dir: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["predict", "x.png", "--crops", "--detector", "mtcnn"])
    assert stop.value.code == 2 and "--crops skips face detection" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["predict", "x.png", "--detector", "yolo"])
    assert stop.value.code == 2 and "invalid choice: 'yolo'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["predict", "x.png", "--min-face-size", "0"])
    assert stop.value.code == 2
    assert main([]) == 2


def test_progress_bar_only_for_several_files_or_a_tty(capsys, folder: Path, tiny_model_dir: Path) -> None:
    main(["predict", str(folder / "face.png"), str(folder / "blank.jpg"), "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert "2/2" in err and "[" in err and err.endswith("\n")
    main(["predict", str(folder / "blank.jpg"), "--model", str(tiny_model_dir)])
    assert "1/1" not in capsys.readouterr().err  # one file, stderr not a TTY


def test_python_dash_m_core_subprocess(folder: Path, tiny_model_dir: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "core", "predict", str(folder), "--model", str(tiny_model_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    reports = json.loads(done.stdout)
    assert len(reports) == 4
    assert [bool(r["error"]) for r in reports] == [False, True, False, True]
    assert len(next(r for r in reports if r["path"].endswith("face.png"))["faces"]) == 1
    assert "4/4" in done.stderr  # progress bar for a folder


def test_unwritable_annotate_dir_is_a_usage_error(capsys, folder: Path, tiny_model_dir: Path) -> None:
    blocker = folder / "face.png"  # a file where the folder should be
    code = main(["predict", str(folder), "--annotate", str(blocker / "out"), "--model", str(tiny_model_dir)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and captured.err.startswith("error: ")


def test_default_detector_gives_detection_score_and_landmarks(capsys, folder: Path, tiny_model_dir: Path) -> None:
    code, reports = run_json(capsys, str(folder / "face.png"), "--model", str(tiny_model_dir))
    assert code == 0
    [result] = reports[0]["faces"]
    assert 0.6 <= result["detection_score"] <= 1.0  # YuNet's score, above its default threshold
    assert len(result["landmarks"]) == 5 and all(len(point) == 2 for point in result["landmarks"])
    x, y, w, h = result["box"]
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in result["landmarks"])
    code, reports = run_json(capsys, str(folder / "face.png"), "--model", str(tiny_model_dir), "--detector", "haar")
    assert reports[0]["faces"][0]["landmarks"] is None


def test_csv_has_detection_score_and_landmark_columns(capsys, folder: Path, tiny_model_dir: Path) -> None:
    from core.reports import LANDMARK_COLUMNS  # noqa: PLC0415

    assert LANDMARK_COLUMNS[:2] == ("right_eye_x", "right_eye_y") and len(LANDMARK_COLUMNS) == 10
    main(["predict", str(folder / "face.png"), "--model", str(tiny_model_dir), "--format", "csv", "--quiet"])
    header, row = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    face = dict(zip(header, row))
    assert float(face["detection_score"]) >= 0.6
    assert all(face[column] != "" for column in LANDMARK_COLUMNS)
    assert float(face["right_eye_x"]) < float(face["left_eye_x"])
    haar = ["--format", "csv", "--quiet", "--detector", "haar"]
    main(["predict", str(folder / "face.png"), "--model", str(tiny_model_dir), *haar])
    header, row = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    face = dict(zip(header, row))
    assert float(face["detection_score"]) > 0 and all(face[column] == "" for column in LANDMARK_COLUMNS)


def test_tta_defaults_to_the_models_choice_and_the_flag_overrides(
    capsys, monkeypatch, folder: Path, tiny_model_dir: Path
) -> None:
    import core.pipeline  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    seen: list[str] = []
    original = EmotionRecognizer.predict_image

    def spy(self, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(self.tta)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmotionRecognizer, "predict_image", spy)
    image = str(folder / "face.png")
    run_json(capsys, image, "--model", str(tiny_model_dir))
    assert seen == ["none"]  # the tiny model's metadata records no choice
    monkeypatch.setattr(core.pipeline, "model_tta", lambda metadata: "flip")
    run_json(capsys, image, "--model", str(tiny_model_dir))
    run_json(capsys, image, "--model", str(tiny_model_dir), "--tta", "none")
    run_json(capsys, image, "--model", str(tiny_model_dir), "--tta", "tencrop")
    assert seen == ["none", "flip", "none", "tencrop"]


def test_small_faces_finds_the_tiny_faces_of_a_large_photo(capsys, tmp_path: Path, tiny_model_dir: Path) -> None:
    photo = tmp_path / "crowd.png"
    cv2.imwrite(str(photo), face_scene(width=4000, height=3000, faces=((300, 300), (2900, 2500)), size=40))
    _code, [plain] = run_json(capsys, str(photo), "--model", str(tiny_model_dir))
    assert plain["faces"] == []  # lost when the photo is shrunk to its largest scale
    _code, [thorough] = run_json(capsys, str(photo), "--model", str(tiny_model_dir), "--small-faces")
    assert len(thorough["faces"]) == 2
    assert all(face["box"][2] < 50 and face["detection_score"] >= 0.6 for face in thorough["faces"])
    for argv in (["--small-faces", "--detector", "haar"], ["--small-faces", "--crops"]):
        with pytest.raises(SystemExit) as stop:
            main(["predict", str(photo), *argv])
        assert stop.value.code == 2 and "--small-faces" in capsys.readouterr().err


def test_explain_writes_one_saliency_png_per_face(capsys, tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    cv2.imwrite(str(src / "two.png"), face_scene(width=900, faces=((60, 100), (500, 100))))
    cv2.imwrite(str(src / "two.jpg"), face_scene())
    cv2.imwrite(str(src / "blank.png"), np.full((120, 160, 3), 60, np.uint8))
    out = tmp_path / "why"
    code, images = run_json(capsys, str(src), "--explain", str(out), "--model", str(tiny_model_dir))
    assert code == 0 and [len(image["faces"]) for image in images] == [0, 1, 2]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["two-2.face-1.why.png", "two-2.face-2.why.png", "two.face-1.why.png"]
    panel = cv2.imread(str(out / "two-2.face-1.why.png"))
    assert panel.shape[1] > 3 * 192 and panel.shape[0] > 192  # the face, its map, and the map in the photo
    assert (panel[:192, 196:388] != panel[:192, :192]).any()  # the second picture carries the map
    # A second run into the source folder leaves its own outputs out of the inputs; another emotion on request.
    again = ["--explain", str(src), "--explain-emotion", "fear", "--model", str(tiny_model_dir)]
    code, images = run_json(capsys, str(src), *again)
    assert code == 0 and len(images) == 3


def test_explain_emotion_needs_explain(capsys, tiny_model_dir: Path) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "x.png", "--explain-emotion", "happy", "--model", str(tiny_model_dir)])
    assert "give --explain DIR too" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "x.png", "--explain", "out", "--explain-emotion", "joy"])
    assert "invalid choice: 'joy'" in capsys.readouterr().err


@pytest.fixture()
def always_close_model(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """The tiny model with an uncertainty rule that calls every face close (margin < 1)."""
    import shutil  # noqa: PLC0415

    out = tmp_path / "close"
    shutil.copytree(tiny_model_dir, out)
    metadata = json.loads((out / "metadata.json").read_text())
    metadata["uncertainty"] = {"min_confidence": 0.0, "min_margin": 1.0, "split": "PublicTest"}
    (out / "metadata.json").write_text(json.dumps(metadata))
    return out


def test_json_adds_the_models_flag_and_the_grouped_view(capsys, folder: Path, always_close_model: Path) -> None:
    code, reports = run_json(capsys, str(folder / "face.png"), "--model", str(always_close_model), "--groups", "default")
    assert code == 0
    face = reports[0]["faces"][0]
    probs = face["probabilities"]
    first, second = sorted(EMOTIONS, key=lambda name: -probs[name])[:2]
    assert face["uncertain"] == "close" and face["label"] == f"{first} or {second}"
    summed = {
        "positive": probs["happy"], "negative": probs["angry"] + probs["disgust"] + probs["fear"] + probs["sad"],
        "neutral": probs["neutral"], "surprise": probs["surprise"],
    }  # fmt: skip
    assert face["group_probabilities"] == pytest.approx(summed, abs=2e-6)
    assert face["group"] == max(summed, key=summed.get)


def test_csv_keeps_every_probability_and_adds_flag_and_custom_groups(
    capsys, folder: Path, always_close_model: Path
) -> None:
    spec = "happy=happy,other=angry+disgust+fear+sad+surprise+neutral"
    argv = ["predict", str(folder / "face.png"), str(folder / "blank.jpg"), "--model", str(always_close_model)]
    code = main([*argv, "--format", "csv", "--groups", spec, "--quiet"])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert code == 0
    assert tuple(rows[0]) == (*CSV_COLUMNS[:-1], "group", "group_prob_happy", "group_prob_other", "error")
    face, blank = (dict(zip(rows[0], row)) for row in rows[1:])
    probs = {name: float(face[f"prob_{name}"]) for name in EMOTIONS}
    assert face["uncertain"] == "close" and " or " in face["label"]
    assert float(face["group_prob_happy"]) == pytest.approx(probs["happy"], abs=1e-5)
    assert float(face["group_prob_other"]) == pytest.approx(1 - probs["happy"], abs=1e-5)
    assert face["group"] == ("happy" if probs["happy"] > 0.5 else "other")
    assert blank["group"] == blank["uncertain"] == blank["label"] == ""


def test_default_rule_without_one_in_the_metadata(capsys, folder: Path, tiny_model_dir: Path) -> None:
    code, reports = run_json(capsys, str(folder / "face.png"), "--model", str(tiny_model_dir))
    face = reports[0]["faces"][0]
    ranked = sorted(face["probabilities"].values(), reverse=True)
    expected = "close" if ranked[0] - ranked[1] < 0.1 else "weak" if ranked[0] < 0.4 else None
    assert code == 0 and face["uncertain"] == expected and "group" not in face


def test_bad_groups_name_the_allowed_emotions(capsys, folder: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["predict", str(folder), "--model", str(tiny_model_dir), "--groups", "good=happy+joy,bad=sad"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --groups: unknown emotion 'joy' in group 'good'; allowed: angry, disgust, fear, happy" in err


def test_min_score_reaches_the_detector_below_its_own_threshold(capsys, tmp_path: Path, tiny_model_dir: Path) -> None:
    from tests.core.faces import FAINT_FACE_SCORE, faint_face_scene  # noqa: PLC0415

    photo = tmp_path / "faint.png"
    cv2.imwrite(str(photo), faint_face_scene())  # one face YuNet scores about 0.43, under its own 0.6
    _code, [plain] = run_json(capsys, str(photo), "--model", str(tiny_model_dir))
    assert plain["faces"] == []  # the default is the detector's own threshold, as before
    _code, [low] = run_json(capsys, str(photo), "--model", str(tiny_model_dir), "--min-score", "0.3")
    (face,) = low["faces"]
    assert FAINT_FACE_SCORE[0] <= face["detection_score"] <= FAINT_FACE_SCORE[1]
    _code, [high] = run_json(capsys, str(photo), "--model", str(tiny_model_dir), "--min-score", "0.55")
    assert high["faces"] == []
    for argv in (["--min-score", "1.5"], ["--min-score", "0.3", "--crops"]):
        with pytest.raises(SystemExit) as stop:
            main(["predict", str(photo), *argv])
        assert stop.value.code == 2 and "--min-score" in capsys.readouterr().err


def test_no_verify_reads_the_box_the_face_verifier_drops(capsys, tmp_path: Path, tiny_model_dir: Path) -> None:
    from benchmarks.false_faces import draw_animal, on_canvas  # noqa: PLC0415

    photo = tmp_path / "dog.png"
    cv2.imwrite(str(photo), on_canvas(draw_animal(120, "dog")))  # YuNet 0.86, past the face checks
    _code, [plain] = run_json(capsys, str(photo), "--model", str(tiny_model_dir), "--show-dropped")
    assert plain["faces"] == [] and [d["rule"] for d in plain["dropped"]] == ["verifier"]
    assert "MTCNN O-Net" in plain["dropped"][0]["reason"]
    _code, [every] = run_json(capsys, str(photo), "--model", str(tiny_model_dir), "--no-verify", "--show-dropped")
    assert len(every["faces"]) == 1 and every["dropped"] == []
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(photo), "--no-verify", "--crops"])
    assert stop.value.code == 2 and "--no-verify" in capsys.readouterr().err
