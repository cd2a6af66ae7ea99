"""``python -m core video``: CSV and JSON output, errors per clip, usage errors, --annotate."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from core.cli import main
from core.labels import EMOTIONS
from core.video import SMOOTHED_COLUMNS, TIMELINE_COLUMNS
from tests.core.faces import face_scene
from tests.core.video_clips import write_clip


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight frames of the drawn face (which Haar finds) drifting right, then four empty frames."""
    folder = tmp_path_factory.mktemp("clips")
    frames = [face_scene(width=320, height=240, faces=((40 + 4 * i, 20),)) for i in range(8)]
    frames += [face_scene(width=320, height=240, faces=())] * 4
    return write_clip(folder / "face.mp4", frames, fps=8)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["video", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_has_a_row_per_frame_and_face(
    face_clip: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, str(face_clip), "--format", "csv", "--model", str(tiny_model_dir), "--detector", "haar", "--tta", "none")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == ("clip", *TIMELINE_COLUMNS, "error")
    assert [int(row["frame"]) for row in rows] == list(range(12))
    faces = [row["face"] for row in rows]
    assert faces[8:] == [""] * 4 and faces[:8].count("1") >= 6  # face ids start at 1, as drawn
    face_row = rows[faces.index("1")]
    assert face_row["emotion"] in EMOTIONS and abs(sum(float(face_row[f"prob_{n}"]) for n in EMOTIONS) - 1) < 1e-4
    assert float(rows[1]["time_s"]) == pytest.approx(1 / 8, abs=1e-3)
    assert "face 1:" in err  # the summary, on stderr


def test_json_holds_timeline_and_summary_and_smoothing(
    face_clip: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = _run(capsys, str(face_clip), "--model", str(tiny_model_dir), "--detector", "haar", "--every", "2", "--smooth", "--quiet")
    assert code == 0
    (report,) = json.loads(out)
    assert report["error"] is None and report["clip"] == str(face_clip)
    assert [row["frame"] for row in report["timeline"]] == [0, 2, 4, 6, 8, 10]
    with_face = [row for row in report["timeline"] if row["face"] is not None]
    assert with_face and all(row["smoothed_emotion"] in EMOTIONS for row in with_face)
    assert report["summary_source"] == "smoothed"
    assert sum(report["summary"][0]["shares"].values()) == pytest.approx(1.0, abs=1e-5)


def test_a_bad_clip_is_reported_and_the_rest_still_run(
    face_clip: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    still = tmp_path / "photo.mp4"
    still.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 50)
    code, out, err = _run(
        capsys, str(still), str(face_clip), "--format", "csv", "--smooth", "1", "--model", str(tiny_model_dir),
        "--detector", "haar", "--fps", "4",
    )  # fmt: skip
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == ("clip", *TIMELINE_COLUMNS, *SMOOTHED_COLUMNS, "error")
    assert rows[0]["clip"] == str(still) and "photo.mp4" in rows[0]["error"]
    assert {row["clip"] for row in rows[1:]} == {str(face_clip)} and all(row["error"] == "" for row in rows[1:])
    assert "error: photo.mp4" in err


def test_annotate_writes_one_mp4_and_nothing_else(
    face_clip: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.mp4"
    code, _out, err = _run(capsys, str(face_clip), "--annotate", str(target), "--model", str(tiny_model_dir), "--detector", "haar", "--quiet")
    assert code == 0, err
    assert os.listdir(tmp_path) == ["out.mp4"] and target.stat().st_size > 0
    folder = tmp_path / "many"
    code, _out, _err = _run(capsys, str(face_clip), str(face_clip), "--annotate", str(folder), "--model", str(tiny_model_dir), "--detector", "haar", "--quiet")
    assert code == 0
    assert sorted(os.listdir(folder)) == ["face-2.annotated.mp4", "face.annotated.mp4"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--every", "2", "--fps", "3"], "not allowed with argument"),
        (["--every", "0"], "must be at least 1"),
        (["--fps", "-1"], "must be > 0"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["video", "clip.mp4", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_annotate_needs_an_mp4_name(face_clip: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, str(face_clip), "--annotate", str(tmp_path / "out.avi"), "--model", str(tiny_model_dir))
    assert code == 2 and "ending in .mp4" in err
    assert os.listdir(tmp_path) == []


def test_annotate_never_overwrites_the_clip(face_clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = face_clip.read_bytes()
    code, _out, err = _run(capsys, str(face_clip), "--annotate", str(face_clip))
    assert code == 2 and "overwrite the clip itself" in err
    assert face_clip.read_bytes() == before


def test_a_missing_model_is_a_usage_error(face_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, str(face_clip), "--model", str(tmp_path / "nope"))
    assert code == 2 and "model directory not found" in err


def test_timeline_adds_smoothed_flag_and_groups(
    face_clip: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = _run(
        capsys, str(face_clip), "--format", "csv", "--smooth", "--groups", "default", "--model", str(tiny_model_dir),
        "--detector", "haar", "--every", "2", "--quiet",
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    groups = ("group", "group_prob_positive", "group_prob_negative", "group_prob_neutral", "group_prob_surprise")
    assert tuple(rows[0]) == ("clip", *TIMELINE_COLUMNS, *SMOOTHED_COLUMNS, *groups, "error")
    row = next(r for r in rows if r["face"] == "1")
    smoothed = {n: float(row[f"smoothed_prob_{n}"]) for n in EMOTIONS}

    def default_rule(probs: dict[str, float]) -> str:
        # The tiny model has no rule of its own: the default one (close under .1, weak under .4).
        ranked = sorted(probs.values(), reverse=True)
        return "close" if ranked[0] - ranked[1] < 0.1 else "weak" if ranked[0] < 0.4 else ""

    assert row["smoothed_uncertain"] == default_rule(smoothed)
    assert row["uncertain"] == default_rule({n: float(row[f"prob_{n}"]) for n in EMOTIONS})
    assert row["label"] in (*EMOTIONS, "uncertain") or " or " in row["label"]
    negative = sum(smoothed[n] for n in ("angry", "disgust", "fear", "sad"))
    assert float(row["group_prob_negative"]) == pytest.approx(negative, abs=1e-5)
    summed = {g: float(row[f"group_prob_{g}"]) for g in ("positive", "negative", "neutral", "surprise")}
    assert row["group"] == max(summed, key=summed.get)
    empty = next(r for r in rows if r["face"] == "")
    assert empty["group"] == empty["uncertain"] == ""


def test_summary_text_and_json_count_groups_with_a_grouping(
    face_clip: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "joy=happy,other=angry+disgust+fear+sad+surprise+neutral"
    args = (str(face_clip), "--groups", spec, "--model", str(tiny_model_dir), "--detector", "haar", "--every", "2")
    code, _out, err = _run(capsys, *args, "--format", "csv")
    lines = [line for line in err.splitlines() if ": face 1: " in line]
    assert code == 0 and len(lines) == 1, err
    assert ("joy " in lines[0] or "other " in lines[0]) and not any(f" {e} " in lines[0] for e in EMOTIONS), lines
    code, out, _err = _run(capsys, *args, "--quiet")
    (report,) = json.loads(out)
    (face,) = [f for f in report["group_summary"] if f["face"] == 1]
    assert set(face["shares"]) == {"joy", "other"} and sum(face["shares"].values()) == pytest.approx(1.0, abs=1e-5)
    assert face["seconds"] == pytest.approx(report["summary"][0]["seconds"])


def test_min_score_reaches_the_detector_as_for_predict(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.core.faces import faint_face_scene  # noqa: PLC0415

    clip = write_clip(tmp_path / "faint.mp4", [faint_face_scene()] * 3, fps=3)  # YuNet scores it under 0.6
    model = ("--model", str(tiny_model_dir), "--quiet", "--tta", "none")
    _code, out, _err = _run(capsys, str(clip), *model)
    assert json.loads(out)[0]["summary"] == []  # the default is the detector's own threshold
    code, out, _err = _run(capsys, str(clip), *model, "--min-score", "0.3")
    (report,) = json.loads(out)
    assert code == 0 and len(report["summary"]) == 1
    _code, out, _err = _run(capsys, str(clip), *model, "--min-score", "0.55")
    assert json.loads(out)[0]["summary"] == []
