"""training.adapt: person ids, the person-wise split, refusals, and a tiny end-to-end adaptation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.labels import EMOTIONS
from core.model_store import read_model_info
from tests.core.faces import face_scene
from training import adapt as adapt_module
from training.adapt import (
    MIN_PEOPLE,
    MIN_PHOTOS,
    AdaptError,
    adapt,
    format_report,
    main,
    person_from_name,
    scores,
    split_photos,
    with_persons,
)
from training.photos import LabelledPhoto, PhotoSet, photos_from_folder

PEOPLE = 6


def _people(n_people: int, per_person: list[int]) -> list[str]:
    return [f"p{i:02d}" for i in range(n_people) for _ in range(per_person[i])]


@pytest.mark.parametrize("seed", range(8))
def test_split_never_puts_a_person_on_both_sides(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_people = int(rng.integers(MIN_PEOPLE, 30))
    people = _people(n_people, [int(v) for v in rng.integers(1, 12, n_people)])
    people += people[: max(0, MIN_PHOTOS - len(people))]  # at least MIN_PHOTOS photos
    holdout = float(rng.uniform(0.15, 0.5))
    split = split_photos(people, holdout=holdout, seed=seed)
    train = {people[i] for i in split.train}
    held = {people[i] for i in split.held_out}
    assert split.by == "person" and train and held and not train & held
    assert sorted([*split.train, *split.held_out]) == list(range(len(people)))  # every photo, once
    assert split_photos(people, holdout=holdout, seed=seed).held_out.tolist() == split.held_out.tolist()


def test_split_by_photo_without_person_ids() -> None:
    split = split_photos([None] * 40, holdout=0.25, seed=1)
    assert split.by == "photo" and len(split.held_out) == 10 and len(split.train) == 30


def test_refuses_too_few_photos_or_people() -> None:
    with pytest.raises(AdaptError, match=rf"only {MIN_PHOTOS - 1} photos with a face; at least {MIN_PHOTOS}"):
        split_photos(_people(5, [4, 4, 4, 4, 3]))
    with pytest.raises(AdaptError, match=rf"only 3 people in 30 photos .*at least {MIN_PEOPLE} people"):
        split_photos(_people(3, [10, 10, 10]))
    with pytest.raises(AdaptError, match="fraction between 0 and 1"):
        split_photos(_people(5, [5] * 5), holdout=1.0)


def test_person_from_file_names() -> None:
    assert person_from_name("sad/0221b04.jpg", re.compile(r"^(\d{4})")) == "0221"
    assert person_from_name("0221b04.jpg", re.compile(r"^\d{4}")) == "0221"  # no group: the whole match
    assert person_from_name("subject-07_happy.png", re.compile(r"subject-(\d+)")) == "07"
    assert person_from_name("x0221.jpg", re.compile(r"^(\d{4})")) is None


def _set(*names: str) -> PhotoSet:
    return PhotoSet(tuple(LabelledPhoto(n, "happy", None, b"") for n in names), (), (), False)


def test_person_from_that_matches_nothing_is_an_error_and_partial_matches_are_left_out() -> None:
    with pytest.raises(AdaptError, match=r"--person-from '\^\(\\d\{4\}\)' matches none of the 2 file names"):
        with_persons(_set("happy/a.jpg", "happy/b.jpg"), r"^(\d{4})")
    with pytest.raises(AdaptError, match="not a valid regular expression"):
        with_persons(_set("happy/a.jpg"), "(")
    named, left = with_persons(_set("happy/0001a.jpg", "happy/0002a.jpg", "happy/cat.jpg"), r"^(\d{4})")
    assert [p.person for p in named.photos] == ["0001", "0002"] and named.has_persons
    assert left == [{"file": "happy/cat.jpg", "reason": r"its file name does not match --person-from '^(\d{4})'"}]
    plain, none_left = with_persons(_set("happy/a.jpg"), None)
    assert [p.person for p in plain.photos] == [None] and none_left == []


def test_labels_csv_person_column(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "labels.csv").write_text("path,label,person\na.png,happy,ann\nb.png,sad, bob \nc.png,angry,\n")
    photo_set = photos_from_folder(tmp_path)
    assert photo_set.has_persons and not photo_set.has_groups
    assert {p.name: p.person for p in photo_set.photos} == {"a.png": "ann", "b.png": "bob", "c.png": None}
    _, left = with_persons(photo_set, None)
    assert [item["file"] for item in left] == ["c.png"]
    (tmp_path / "labels.csv").write_text("path,label\na.png,happy\n")  # no person column: unchanged
    assert not photos_from_folder(tmp_path).has_persons


def test_scores_recall_and_confusion() -> None:
    probs = np.eye(7)[[3, 3, 4, 0]]
    result = scores(np.array([3, 4, 4, 0]), probs)
    assert result["accuracy"] == 0.75
    assert result["recall"]["happy"] == 1.0 and result["recall"]["sad"] == 0.5 and result["recall"]["fear"] is None
    assert result["confusion"][4][3] == 1 and sum(map(sum, result["confusion"])) == 4


@pytest.fixture(scope="module")
def drawn_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_drawn_people(tmp_path_factory.mktemp("adapt") / "photos")


def write_drawn_people(root: Path) -> Path:
    """6 people x 7 emotions of drawn faces, in emotion folders, each name starting with the person
    (``0003-happy.png``), one photo without a face and one file that is not a photo."""
    for c, emotion in enumerate(EMOTIONS):
        (root / emotion).mkdir(parents=True)
        for p in range(PEOPLE):
            scene = face_scene(width=300, height=300, faces=((20 + 8 * p, 20 + 6 * c),), size=100)
            cv2.imwrite(str(root / emotion / f"{p:04d}-{emotion}.png"), scene)
    cv2.imwrite(str(root / "sad" / "0000-empty.png"), face_scene(width=300, height=300, faces=()))  # no face
    (root / "notes.txt").write_text("not a photo")
    return root


def test_adapts_a_tiny_model_end_to_end(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    out = tmp_path / "models" / "mine"
    argv = ["--photos", str(drawn_photos), "--out", str(out), "--base", str(tiny_model_dir), "--epochs", "2",
            "--person-from", r"^(\d{4})", "--seed", "3", "--lr", "1e-3"]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "epoch 2 of 2" in captured.err
    assert report["split"] == "person" and report["with_face"] == PEOPLE * 7
    assert report["no_face"] == ["sad/0000-empty.png"]
    held = report["held_out"]
    assert held["people"] == 2 and held["photos"] == 14 and len(report["train"]["people"]) == 4
    assert not set(held["people_ids"]) & set(report["train"]["people"])
    assert len(held["confusion_before"]) == 7 and all(len(row) == 7 for row in held["confusion_after"])
    assert sum(map(sum, held["confusion_after"])) == 14
    assert set(held["per_class_recall_before"]) == set(EMOTIONS)
    assert report["best_epoch"] in (1, 2) and len(report["history"]) == 2
    assert any("chose the epoch" in note for note in report["notes"])

    info = read_model_info(out)
    assert info.ok, info.error
    adapted = info.metadata["adapted"]
    assert adapted["base"] == "tiny" and adapted["split"] == "person" and adapted["photos"] == 28
    assert adapted["people"] == 4 and adapted["classes"] == {e: 4 for e in EMOTIONS}
    assert adapted["held_out"]["accuracy_after"] == held["accuracy_after"]
    assert info.metadata["name"] == "mine" and info.metadata["architecture"] == "tiny_fer"
    assert "terms_of_use" not in info.metadata  # the tiny model learnt nothing from FER2013
    assert [p.name for p in out.parent.iterdir()] == ["mine"]  # no staging folder left behind

    recognizer = EmotionRecognizer.from_dir(out, backend="litert")
    assert recognizer.backend == "litert"
    probs = recognizer.predict_batch(np.full((2, 48, 48, 1), 128, np.uint8))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)

    text = format_report(report)
    assert "before ->" in text and "confusion after" in text and "no face found" in text

    # The same --out again: refused, the model already there untouched.
    before = sorted(p.name for p in out.iterdir())
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_run_that_fails_mid_way_leaves_nothing(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "models" / "mine"

    def stop(line: str) -> None:
        if line.startswith("epoch 1 of"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapt(drawn_photos, out, base=tiny_model_dir, epochs=2, person_from=r"^(\d{4})", on_progress=stop)
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))

    def broken(staging: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.model_store.publish_model_dir", broken)
    with pytest.raises(OSError, match="No space left"):
        adapt(drawn_photos, out, base=tiny_model_dir, epochs=1, person_from=r"^(\d{4})")
    assert not out.exists() and list(out.parent.iterdir()) == []  # the staged model was removed too


def test_too_few_people_is_refused_with_the_numbers(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    # Person = the emotion (7 people) would do; person = first digit of the name is one person for all.
    assert main(["--photos", str(drawn_photos), "--out", str(out), "--base", str(tiny_model_dir),
                 "--person-from", r"^(\d)"]) == 2  # fmt: skip
    assert "only 1 person in 42 photos (0); at least 4 people" in capsys.readouterr().err
    assert not out.exists()
    assert adapt_module.MIN_PEOPLE == MIN_PEOPLE


def test_replays_fer2013_faces_beside_the_photos(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from tests.app.conftest import write_fake_fer_csv  # noqa: PLC0415

    seen: list[int] = []
    real_fit = adapt_module.fine_tune

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append(len(kwargs["replay"][1]) if kwargs.get("replay") is not None else 0)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(adapt_module, "fine_tune", counting)
    data = write_fake_fer_csv(tmp_path / "fer2013.csv.gz", per_class=3)
    argv = ["--photos", str(drawn_photos), "--base", str(tiny_model_dir), "--epochs", "1", "--person-from", r"^(\d{4})"]
    monkeypatch.delenv("FER2013_PATH", raising=False)
    assert main([*argv, "--out", str(tmp_path / "no-data"), "--replay", "10"]) == 2
    assert "--replay needs FER2013" in capsys.readouterr().err and not (tmp_path / "no-data").exists()
    out = tmp_path / "replayed"
    assert main([*argv, "--out", str(out), "--replay", "10", "--data", str(data)]) == 0
    assert "replaying 10 of FER2013's 21 Training faces each epoch" in capsys.readouterr().err
    assert seen == [21]  # every Training face offered; 10 drawn each epoch
    assert read_model_info(out).metadata["adapted"]["replay"] == 10
    report = read_model_info(out).metadata["adapted"]["public_test"]
    # The tiny model records no PublicTest accuracy: measured before and after on the 21 PublicTest faces.
    assert report["n"] == 21 and report["tta"] == "flip"
    assert 0 <= report["accuracy_before"] <= 1 and 0 <= report["accuracy_after"] <= 1


def test_cross_validation_scores_each_fold_on_people_it_did_not_learn(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    folds: list[tuple[int, int]] = []
    real_fit = adapt_module.fine_tune

    def watching(model, x_train, y_train, x_held, y_held, **kwargs):  # noqa: ANN001, ANN003, ANN202
        folds.append((len(x_train), len(x_held)))
        return real_fit(model, x_train, y_train, x_held, y_held, **kwargs)

    monkeypatch.setattr(adapt_module, "fine_tune", watching)
    monkeypatch.delenv("FER2013_PATH", raising=False)
    argv = ["--photos", str(drawn_photos), "--base", str(tiny_model_dir), "--epochs", "1", "--person-from", r"^(\d{4})"]
    assert main([*argv, "--cv", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["held_people"] for row in report["folds"]] == [2, 2, 2]  # 6 people, 3 folds
    assert [row["train_people"] for row in report["folds"]] == [4, 4, 4]
    assert sum(row["held_photos"] for row in report["folds"]) == PEOPLE * 7  # every photo scored once
    assert folds == [(28, 14)] * 3
    assert report["accuracy_after"] == pytest.approx(np.mean([r["accuracy_after"] for r in report["folds"]]))
    assert report["public_test_before"] is None and not list(tmp_path.iterdir())  # no model written

    folds.clear()
    assert main([*argv, "--cv", "2", "--train-people", "1"]) == 0
    text = capsys.readouterr().out
    assert folds == [(7, 21), (7, 21)] and "1 people learnt a fold" in text and "mean" in text

    assert main([*argv, "--cv", "2", "--train-people", "9"]) == 2
    assert "--train-people 9: a fold has only 3 people" in capsys.readouterr().err
    assert main(["--photos", str(drawn_photos), "--base", str(tiny_model_dir), "--cv", "2"]) == 2
    assert "cross-validation splits by person" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(argv)  # neither --out nor --cv
    assert "--out is required" in capsys.readouterr().err


def test_freezing_keeps_the_early_layers_and_distilling_pulls_towards_the_base(tiny_model_dir: Path) -> None:
    from core.model_store import load_model_dir  # noqa: PLC0415
    from training.adapt import fine_tune, freeze_early_layers  # noqa: PLC0415

    model, _ = load_model_dir(tiny_model_dir)
    weighted = [layer for layer in model.layers if layer.weights]
    assert freeze_early_layers(model, 0.5) == round(len(weighted) * 0.5)
    assert [layer.trainable for layer in weighted] == [i >= round(len(weighted) * 0.5) for i in range(len(weighted))]

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (40, 48, 48, 1)).astype(np.float32)
    y = rng.integers(0, 7, 40)
    start = [w.copy() for w in load_model_dir(tiny_model_dir)[0].get_weights()]
    for freeze in (0.0, 0.5):
        model, _ = load_model_dir(tiny_model_dir)
        fine_tune(model, x, y, x[:8], y[:8], epochs=1, learning_rate=1e-2, freeze=freeze)
        first = next(i for i, layer in enumerate(model.layers) if layer.weights)
        moved = not np.allclose(model.layers[first].get_weights()[0], start[0])
        assert moved == (freeze == 0.0)  # the first layer with weights learns only when not frozen

    stops = iter([False, True])
    model, _ = load_model_dir(tiny_model_dir)
    best, history = fine_tune(model, x, y, x[:8], y[:8], epochs=5, distill=0.5, should_stop=lambda: next(stops))
    assert len(history) == 2 and best in (1, 2)  # stopped after the second epoch, as asked
    with pytest.raises(AdaptError, match="--distill must be"):
        fine_tune(model, x, y, x[:8], y[:8], epochs=1, distill=1.0)
    with pytest.raises(AdaptError, match="--freeze must be"):
        fine_tune(model, x, y, x[:8], y[:8], epochs=1, freeze=-0.1)


def test_holding_out_no_one_learns_from_every_photo_and_keeps_the_last_epoch(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    report = adapt(drawn_photos, tmp_path / "all", base=tiny_model_dir, epochs=2, holdout=0, person_from=r"^(\d{4})")
    assert report["train"]["photos"] == PEOPLE * 7 and len(report["train"]["people"]) == PEOPLE
    assert report["held_out"]["photos"] == 0 and report["held_out"]["accuracy_after"] is None
    assert report["best_epoch"] == 2 and report["notes"][0].startswith("no one was held out (--holdout-people 0)")
    text = format_report(report)
    assert "held out: no one (every photo was learnt from)" in text and "accuracy on the held-out" not in text
    assert read_model_info(tmp_path / "all").ok


def test_prior_weights_make_the_photos_classes_weigh_as_fer2013s() -> None:
    from training.adapt import prior_weights  # noqa: PLC0415

    y = np.array([0] * 30 + [1] * 30 + [6] * 10)  # angry and disgust as many as 3 neutral each
    prior = np.array([0.2, 0.02, 0.1, 0.3, 0.1, 0.08, 0.2])
    weights = prior_weights(y, prior)
    mass = np.bincount(y, weights=weights[y], minlength=7)
    assert mass.sum() == pytest.approx(len(y))  # the photos' total weight is unchanged
    present = np.array([0.2, 0.02, 0, 0, 0, 0, 0.2])
    assert mass / mass.sum() == pytest.approx(present / present.sum())  # shares as the prior's, among present classes
    assert weights[6] > 1 > weights[1] and weights[2] == 0  # neutral up, disgust down, absent classes 0


def test_match_prior_needs_fer2013_and_is_recorded(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.app.conftest import write_fake_fer_csv  # noqa: PLC0415

    with pytest.raises(AdaptError, match="--match-prior needs FER2013"):
        adapt(drawn_photos, tmp_path / "x", base=tiny_model_dir, epochs=1, person_from=r"^(\d{4})", match_prior=True)
    assert not (tmp_path / "x").exists()
    data = write_fake_fer_csv(tmp_path / "fer2013.csv.gz", per_class=3)
    out = tmp_path / "weighed"
    adapt(drawn_photos, out, base=tiny_model_dir, epochs=1, person_from=r"^(\d{4})", match_prior=True, data=data)
    weights = read_model_info(out).metadata["adapted"]["class_weights"]
    assert weights == {e: pytest.approx(1.0, abs=1e-3) for e in EMOTIONS}  # the made-up set is balanced, as the photos


def test_the_adapted_model_file_holds_no_optimizer_state(
    drawn_photos: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lean"
    adapt(drawn_photos, out, base=tiny_model_dir, epochs=1, person_from=r"^(\d{4})")
    size = (out / read_model_info(out).metadata["model_file"]).stat().st_size
    base = (tiny_model_dir / read_model_info(tiny_model_dir).metadata["model_file"]).stat().st_size
    assert size < 1.3 * base  # AdamW's two values a weight would make it about three times the base's
