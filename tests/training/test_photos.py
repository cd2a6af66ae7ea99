"""training.photos: labels from folders, names and labels.csv; scoring, groups, the CK+ look, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from core.archive import read_photo_archive
from core.detection import Detection
from core.labels import EMOTIONS
from core.model_store import load_model_dir, read_model_info
from core.pipeline import STILL_DETECTOR
from tests.core.archives import LIMITS, make_zip
from tests.core.faces import face_scene
from training.photos import (
    NO_GROUP,
    PHOTOS_KEY,
    LabelledPhoto,
    PhotoResult,
    PhotoSet,
    ck_style,
    evaluate_photos,
    format_report,
    group_breakdown,
    label_from_name,
    main,
    photos_from_archive,
    photos_from_folder,
    results_csv,
    small_group_warning,
    summarise,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
POSED = {"posed_surprise.jpg": "surprise", "posed_disgust.jpg": "disgust", "posed_happy.jpg": "happy", "posed_angry.jpg": "angry"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("posed_disgust.jpg", "disgust"),
        ("45-m7-di-ph.jpg", "disgust"),
        ("0-f15-hao-ph.png", "happy"),
        ("15-f13-anc-ph.jpg", "angry"),
        ("0-f1-su-ph.jpg", "surprise"),
        ("Sad Face 2.JPG", "sad"),
        ("scared_01.jpg", "fear"),
        ("group_5_faces.jpg", None),  # no emotion in the name
        ("happy_or_sad.jpg", None),  # two: ambiguous, left out
    ],
)
def test_label_from_name(name: str, expected: str | None) -> None:
    assert label_from_name(name) == expected


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_class_folders_with_synonyms_and_unknown_folders_listed(tmp_path: Path) -> None:
    _touch(tmp_path, "Happiness/1.jpg", "anger/2.png", "02-scared/3.jpg", "calm/sub/4.jpg", "contempt/5.jpg",
           "contempt/6.jpg", "posed_sad.jpg", "group.jpg", "notes.txt", ".hidden/7.jpg")  # fmt: skip
    found = photos_from_folder(tmp_path)
    assert [(p.name, p.label, p.group) for p in found.photos] == [
        ("posed_sad.jpg", "sad", None),  # a flat file labelled by its name
        ("02-scared/3.jpg", "fear", None),
        ("Happiness/1.jpg", "happy", None),
        ("anger/2.png", "angry", None),
        ("calm/sub/4.jpg", "neutral", None),  # the nearest folder that names an emotion
    ]
    assert found.unknown_folders == ("contempt",)
    assert {(i.name, i.reason.split(":")[0]) for i in found.left_out} == {
        ("notes.txt", "not an image"),
        ("contempt/5.jpg", "its folder 'contempt' names no emotion of ours"),
        ("contempt/6.jpg", "its folder 'contempt' names no emotion of ours"),
        ("group.jpg", "no label"),
    }
    assert not found.has_groups
    with pytest.raises(FileNotFoundError):
        photos_from_folder(tmp_path / "missing")


def test_labels_csv_with_groups_wins_and_lists_what_it_cannot_use(tmp_path: Path) -> None:
    _touch(tmp_path, "a.jpg", "happy/b.jpg", "x/c.jpg", "d.jpg", "sad/e.jpg")
    (tmp_path / "labels.csv").write_text(
        "path,label,group\na.jpg,Fear,frontal\nhappy/b.jpg,neutral,profile\nc.jpg,surprised,frontal\n"
        "d.jpg,contempt,frontal\ngone.jpg,happy,profile\n"
    )
    found = photos_from_folder(tmp_path)
    assert [(p.name, p.label, p.group) for p in found.photos] == [
        ("a.jpg", "fear", "frontal"), ("happy/b.jpg", "neutral", "profile"),  # the table wins over the folder
        ("sad/e.jpg", "sad", NO_GROUP),  # not in the table: its folder, no group
        ("x/c.jpg", "surprise", "frontal"),  # a bare file name, unique in the set
    ]  # fmt: skip
    assert found.has_groups
    assert [(i.name, i.reason) for i in found.left_out] == [
        ("d.jpg", "its label 'contempt' in labels.csv names no emotion of ours"),
        ("gone.jpg", "listed in labels.csv but not found"),
    ]
    (tmp_path / "labels.csv").write_text("image,emotion\na.jpg,happy\n")  # the old header still reads
    assert photos_from_folder(tmp_path).photos[0].label == "happy"
    (tmp_path / "labels.csv").write_text("name,feeling\na.jpg,happy\n")
    with pytest.raises(ValueError, match="path and label columns.*name, feeling"):
        photos_from_folder(tmp_path)


def test_archive_sets_read_labels_csv_beside_the_photos_and_list_skips() -> None:
    data = make_zip([
        ("set/labels.csv", b"path,label,group\nimg/1.jpg,happy,indoor\n"),
        ("set/img/1.jpg", b"x"), ("set/sad/2.jpg", b"y"), ("__MACOSX/set/._labels.csv", b""),
        ("set/README.md", b"notes"),
    ])  # fmt: skip
    found = photos_from_archive(read_photo_archive(data, **LIMITS))
    assert [(p.name, p.label, p.group, p.source) for p in found.photos] == [
        ("set/img/1.jpg", "happy", "indoor", b"x"), ("set/sad/2.jpg", "sad", NO_GROUP, b"y"),
    ]  # fmt: skip
    assert {i.name for i in found.left_out} == {"__MACOSX/set/._labels.csv", "set/README.md"}


def test_ck_style_is_gray_640x490_and_keeps_the_aspect() -> None:
    image = np.zeros((200, 100, 3), np.uint8)
    image[:, :, 2] = 255  # red, tall
    out = ck_style(image)
    assert out.shape == (490, 640, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    lit = np.flatnonzero(out[245, :, 0])  # the photo's columns on the middle row
    assert 240 <= lit.size <= 250  # 100 * 490/200 = 245 px wide, centred
    assert abs((lit[0] + lit[-1]) / 2 - 319.5) <= 1
    assert out[245, 320, 0] == cv2.cvtColor(np.uint8([[[0, 0, 255]]]), cv2.COLOR_BGR2GRAY)[0, 0]


def _probs(emotion: str, confidence: float) -> dict[str, float]:
    rest = (1 - confidence) / (len(EMOTIONS) - 1)
    return {e: confidence if e == emotion else rest for e in EMOTIONS}


class ScriptedModel:
    """Detections scripted by an image's mean brightness; each face's emotion by its box width and the model."""

    def __init__(self, boxes_by_mean: dict[int, list[tuple[int, int, int, int]]], said: dict[int, str]) -> None:
        self.boxes_by_mean, self.said, self.calls = boxes_by_mean, said, []

    def detector(self, detector=None):  # noqa: ANN001, ANN201
        return SimpleNamespace(detect=lambda image: [Detection(b, 0.9) for b in self.boxes_by_mean[round(float(image.mean()))]])

    def predict_faces(self, image, detections, *, tta=None):  # noqa: ANN001, ANN201
        self.calls.append(("faces", [d.box for d in detections], tta))
        return [SimpleNamespace(box=d.box, emotion=self.said[d.box[2]], confidence=0.8,
                                probabilities=_probs(self.said[d.box[2]], 0.8)) for d in detections]  # fmt: skip

    def predict_crops(self, crops, *, tta=None):  # noqa: ANN001, ANN201
        self.calls.append(("crops", [c.shape for c in crops], tta))
        h, w = crops[0].shape[:2]
        return [SimpleNamespace(box=(0, 0, w, h), emotion="sad", confidence=0.6, probabilities=_probs("sad", 0.6))]


def _photo_set(spec: list[tuple[str, int, str, str | None]]) -> PhotoSet:
    photos = []
    for name, value, label, group in spec:
        data = cv2.imencode(".png", np.full((60, 80, 3), value, np.uint8))[1].tobytes() if value >= 0 else b"not a photo"
        photos.append(LabelledPhoto(name, label, group, data))
    return PhotoSet(tuple(photos), (), (), any(g for *_, g in spec))


def test_the_largest_face_is_judged_by_every_model_and_a_miss_counts_wrong(tmp_path: Path) -> None:
    photo_set = _photo_set([("a.png", 10, "happy", None), ("b.png", 20, "sad", None),
                                      ("c.png", 30, "fear", None), ("d.png", -1, "fear", None)])  # fmt: skip
    boxes = {10: [(0, 0, 10, 10), (20, 0, 30, 30)], 20: [(5, 5, 20, 20)], 30: []}
    first = ScriptedModel(boxes, {10: "sad", 30: "happy", 20: "neutral"})
    second = ScriptedModel({}, {30: "angry", 20: "sad"})
    progress = []
    results = evaluate_photos(
        photo_set, {"one": first, "two": second}, tta={"two": "flip"}, thumbnails=True,
        on_progress=lambda done, total, name: progress.append((done, total, name)),
    )  # fmt: skip
    one, two = results[("one", "original")], results[("two", "original")]
    assert [r.predicted for r in one] == ["happy", "neutral", None, None]  # the 30-px face, not the surer-looking one
    assert [r.predicted for r in two] == ["angry", "sad", None, None]  # the same faces, found once
    assert [c[1] for c in second.calls] == [[(20, 0, 30, 30)], [(5, 5, 20, 20)]] and second.calls[0][2] == "flip"
    assert one[0].faces == 2 and one[0].box == (20, 0, 30, 30) and one[0].face is not None and max(one[0].face.shape[:2]) == 96
    assert "not a supported image" in one[3].error
    assert progress[-1] == (4, 4, "d.png")

    summary = summarise(one)
    assert (summary["n"], summary["found"], summary["correct"]) == (3, 2, 1)
    assert summary["accuracy"] == pytest.approx(1 / 3) and summary["accuracy_found"] == pytest.approx(1 / 2)
    assert summary["no_face"] == ["c.png"] and summary["unreadable"][0]["file"] == "d.png"
    assert summary["metrics"]["n"] == 2 and summary["metrics"]["per_class"]["happy"]["recall"] == 1.0
    assert summary["metrics"]["confusion_matrix"][EMOTIONS.index("sad")][EMOTIONS.index("neutral")] == 1
    assert summary["groups"] == []

    crops = evaluate_photos(photo_set, {"one": first}, crops=True)[("one", "original")]
    assert [r.predicted for r in crops[:3]] == ["sad", "sad", "sad"] and first.calls[-1][1] == [(60, 80, 3)]
    with pytest.raises(ValueError, match="unknown style 'sepia'"):
        evaluate_photos(photo_set, {"one": first}, styles=["sepia"])


def _result(label: str, predicted: str | None, group: str) -> PhotoResult:
    return PhotoResult(f"{label}-{group}.jpg", label, group, 0 if predicted is None else 1, predicted,
                       None if predicted is None else 0.9, None if predicted is None else tuple(_probs(predicted, 0.9).values()))  # fmt: skip


def test_groups_break_accuracy_and_recall_down_and_warn_when_small() -> None:
    rows = [_result("happy", "happy", "frontal")] * 30 + [_result("sad", "happy", "frontal")] * 10
    rows += [_result("happy", "happy", "profile"), _result("sad", None, "profile"), _result("sad", "sad", "profile")]
    groups = {g["group"]: g for g in group_breakdown(rows)}
    frontal, profile = groups["frontal"], groups["profile"]
    assert (frontal["n"], frontal["correct"], frontal["accuracy"], frontal["small"]) == (40, 30, 0.75, False)
    assert frontal["recall"] == {"happy": {"recall": 1.0, "n": 30}, "sad": {"recall": 0.0, "n": 10}}
    assert frontal["margin"] == pytest.approx(1.96 * np.sqrt(0.75 * 0.25 / 40))
    assert (profile["n"], profile["found"], profile["accuracy"], profile["accuracy_found"]) == (3, 2, 2 / 3, 1.0)
    assert profile["recall"]["sad"] == {"recall": 0.5, "n": 2} and profile["small"]
    warning = small_group_warning(list(groups.values()))
    assert warning.startswith("Groups with fewer than 30 photos say little: profile (3).")
    assert small_group_warning([frontal]) is None
    assert [g["group"] for g in summarise(rows)["groups"]] == ["frontal", "profile"]


def test_per_file_csv_has_a_row_per_photo() -> None:
    text = results_csv([_result("happy", "happy", "a"), _result("sad", None, "b")])
    lines = text.strip().splitlines()
    assert lines[0] == "file,label,group,faces,predicted,confidence,correct," + ",".join(EMOTIONS) + ",error"
    assert lines[1].startswith("happy-a.jpg,happy,a,1,happy,0.9000,1,")
    assert lines[2] == "sad-b.jpg,sad,b,0,,,0" + "," * len(EMOTIONS) + ","


def _drawn_set(root: Path) -> None:
    """Drawn faces in emotion folders (names a person might use), a crop folder, and a labels file."""
    for folder, x in (("happiness", 100), ("Sad", 300), ("scared", 200)):
        (root / folder).mkdir(parents=True)
        cv2.imwrite(str(root / folder / "1.jpg"), face_scene(faces=((x, 100),)))
    cv2.imwrite(str(root / "Sad" / "2.jpg"), face_scene(faces=()))  # no face: listed, counted wrong
    (root / "labels.csv").write_text("path,label,group\nhappiness/1.jpg,happy,lab\nSad/1.jpg,sad,lab\n")


def test_cli_reads_folders_and_zips_and_reports_both_ways(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _drawn_set(tmp_path / "my-photos")
    assert main(["--photos", str(tmp_path / "my-photos"), "--model", str(tiny_model_dir), "--styles", "original", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    summary = report["models"]["tiny"]["styles"]["original"]
    assert (report["n"], summary["n"], summary["found"]) == (4, 4, 3)
    assert summary["no_face"] == ["Sad/2.jpg"]
    assert summary["accuracy"] == pytest.approx(summary["correct"] / 4)
    assert summary["accuracy_found"] == pytest.approx(summary["correct"] / 3)
    assert [g["group"] for g in summary["groups"]] == [NO_GROUP, "lab"]
    assert "Groups with fewer than 30 photos" in captured.err

    zipped = tmp_path / "my-photos.zip"
    zipped.write_bytes(make_zip((p.relative_to(tmp_path / "my-photos").as_posix(), p.read_bytes())
                                for p in sorted((tmp_path / "my-photos").rglob("*")) if p.is_file()))  # fmt: skip
    assert main(["--photos", str(zipped), "--model", str(tiny_model_dir), str(tiny_model_dir), "--crops"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("tiny (TTA none), original: ") and "over the 4 with a face" in text  # crops: no detection


def test_record_writes_each_models_score_into_its_metadata(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "models" / "mine"
    shutil.copytree(tiny_model_dir, model)  # the shared tiny model is not written to
    _drawn_set(tmp_path / "my-photos")
    args = ["--photos", str(tmp_path / "my-photos"), "--model", str(model), "--styles", "original", "ck", "--json"]
    assert main([*args, "--record"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)["models"]["mine"]["styles"]["original"]
    (entry,) = read_model_info(model).metadata[PHOTOS_KEY]
    assert entry["set"] == "my-photos" and (entry["photos"], entry["found"]) == (4, 3)  # never a path
    assert (entry["correct"], entry["accuracy"]) == (summary["correct"], summary["accuracy"])  # the original look only
    assert (entry["crops"], entry["tta"], entry["detector"]) == (False, "none", STILL_DETECTOR)
    assert "recorded in the metadata.json of mine as 'my-photos'" in captured.err
    load_model_dir(model)  # the metadata still describes the same model file

    # The same set scored again replaces its entry; another set is added beside it.
    assert main([*args, "--record"]) == 0
    (tmp_path / "crops" / "happy").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "crops" / "happy" / "1.png"), np.full((48, 48), 120, np.uint8))
    assert main(["--photos", str(tmp_path / "crops"), "--model", str(model), "--crops", "--record"]) == 0
    entries = read_model_info(model).metadata[PHOTOS_KEY]
    assert [(e["set"], e["photos"], e["crops"], e["detector"]) for e in entries] == [
        ("my-photos", 4, False, STILL_DETECTOR), ("crops", 1, True, None)
    ]
    # Without --record nothing is written.
    before = (model / "metadata.json").read_text()
    assert main(args) == 0
    assert (model / "metadata.json").read_text() == before


def test_cli_refuses_what_it_cannot_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "group.jpg").write_bytes(b"")
    assert main(["--photos", str(tmp_path)]) == 2
    assert "no labelled photo" in capsys.readouterr().err
    (tmp_path / "evil.zip").write_bytes(make_zip([("../evil.jpg", b"")]))
    assert main(["--photos", str(tmp_path / "evil.zip")]) == 2
    assert "climbs out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--photos", str(tmp_path), "--crops", "--styles", "ck"])


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples not present")
def test_posed_samples_are_all_found_in_both_looks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in POSED:
        (tmp_path / name).symlink_to(SAMPLES / name)
    assert main(["--photos", str(tmp_path), "--model", "fast", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["models"]["fast"]["tta"] == "flip"
    for style in ("original", "ck"):
        summary = report["models"]["fast"]["styles"][style]
        assert {row["file"]: row["label"] for row in summary["rows"]} == POSED
        assert summary["found"] == 4, summary["rows"]
        assert summary["correct"] == sum(row["predicted"] == row["label"] for row in summary["rows"])
    assert "fast (TTA flip), ck: " in format_report(report)


def test_thumbnails_keep_the_model_input_that_reproduces_the_answer(tiny_model_dir: Path) -> None:
    from core.pipeline import still_detector  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    recognizer = EmotionRecognizer.from_dir(tiny_model_dir, detector=still_detector())
    scene = cv2.imencode(".png", face_scene(width=400, height=300, faces=((120, 60),)))[1].tobytes()
    photo_set = PhotoSet((LabelledPhoto("happy/1.png", "happy", None, scene),), (), (), False)
    for crops in (False, True):
        (result,) = evaluate_photos(photo_set, {"tiny": recognizer}, crops=crops, tta={"tiny": "flip"}, thumbnails=True)[
            ("tiny", "original")
        ]
        assert result.crop.shape == (48, 48) and result.crop.dtype == np.uint8
        again = recognizer.predict_batch(result.crop[None, :, :, None], tta="flip")[0]
        np.testing.assert_allclose(again, result.probabilities, atol=1e-6)
    (plain,) = evaluate_photos(photo_set, {"tiny": recognizer})[("tiny", "original")]
    assert plain.crop is None and plain.face is None  # kept only when thumbnails are asked for
