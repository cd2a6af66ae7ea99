"""The worker on its own (no Ray): remote reads through pyarrow, a video's chunks, a unit run twice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from batch.output import BOOKKEEPING
from batch.worker import Analyser, Settings, model_files


def _batch(unit: int, kind: str, paths: list[str]) -> dict:
    return {"unit": [unit], "kind": [kind], "paths": [paths], "errors": [[""] * len(paths)]}


def test_uris_and_local_paths_give_the_same_rows_and_videos_are_written_in_chunks(
    archive: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    worker = Analyser(settings=Settings(rows_per_file=5), model=model_files(str(tiny_model_dir)), out=str(out))
    photo = archive / "photos" / "photo03.png"
    clip = archive / "clips" / "walk.mp4"
    statuses = list(worker(_batch(0, "image", [str(photo), f"file://{photo}"])))
    statuses += list(worker(_batch(1, "video", [f"file://{clip}"])))
    assert [(s["unit"][0], s["chunk"][0], s["final"][0]) for s in statuses] == [
        (0, 0, True), (1, 0, False), (1, 1, False), (1, 2, False), (1, 3, True)
    ]  # fmt: skip
    assert sorted(p.name for p in out.glob("part-*")) == [
        "part-000000-0000.parquet", "part-000001-0000.parquet", "part-000001-0001.parquet", "part-000001-0002.parquet",
    ]  # fmt: skip
    assert list((out / BOOKKEEPING / "staging").iterdir()) == []
    rows = pd.read_parquet(out)
    local, remote = rows[rows["path"] == str(photo)], rows[rows["path"] == f"file://{photo}"]
    assert len(local) == 2 and local.drop(columns="path").reset_index(drop=True).equals(remote.drop(columns="path").reset_index(drop=True))
    assert rows[rows["path"] == f"file://{clip}"]["frame"].tolist() == list(range(12))

    again = Analyser(settings=Settings(rows_per_file=5), model=model_files(str(tiny_model_dir)), out=str(out))
    list(again(_batch(1, "video", [f"file://{clip}"])))  # a retried task overwrites its own files
    assert pd.read_parquet(out).equals(rows)


def test_read_ahead_keeps_the_order_and_skips_inputs_with_an_error(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    paths = []
    for index in range(6):
        paths.append(str(tmp_path / f"{index}.bin"))
        Path(paths[-1]).write_bytes(bytes([index]) * (index + 1))
    errors = [None, "gone", None, None, "gone", None]
    worker = Analyser.__new__(Analyser)  # the reader alone: no model needed
    worker._reader = ThreadPoolExecutor(max_workers=2)
    got = list(worker._read_ahead(paths + [str(tmp_path / "missing.bin")], errors + [None]))
    assert got[:6] == [b"\x00", None, b"\x02" * 3, b"\x03" * 4, None, b"\x05" * 6]
    assert got[6] == f"image file not found: {tmp_path / 'missing.bin'}"


def test_min_score_and_every_detector_option_mean_what_they_mean_for_predict(tiny_model_dir: Path, tmp_path: Path) -> None:
    import argparse  # noqa: PLC0415

    import cv2  # noqa: PLC0415
    import pytest  # noqa: PLC0415

    from batch.cli import build_parser  # noqa: PLC0415
    from core.cli import build_parser as core_parser  # noqa: PLC0415
    from core.pipeline import PhotoOptions  # noqa: PLC0415
    from tests.core.faces import faint_face_scene  # noqa: PLC0415

    photo = cv2.imencode(".png", faint_face_scene())[1].tobytes()  # one face YuNet scores under its own 0.6
    model = model_files(str(tiny_model_dir))
    counts = {}
    for min_score in (None, 0.3, 0.55):
        worker = Analyser(settings=Settings(min_score=min_score), model=model, out=str(tmp_path / "out"))
        counts[min_score] = sum(row["face"] is not None for row in worker.image_rows("faint.png", photo))
    assert counts == {None: 0, 0.3: 1, 0.55: 0}
    settings = Settings(model="m", detector="haar", min_score=0.5, min_face_size=40, tta="flip")
    assert settings.photo_options() == PhotoOptions(model="m", detector="haar", min_score=0.5, min_face_size=40, tta="flip")
    assert Settings(verify=False).photo_options().verify is False and Settings().photo_options().verify
    assert build_parser().parse_args(["x.png", "--out", "o", "--no-verify"]).verify is False

    # One definition of each option the docs call the CLI's: same flags, same help, same parsing.
    def options(parser: argparse.ArgumentParser) -> dict[str, tuple]:
        found = {}
        for action in parser._actions:  # noqa: SLF001 - argparse keeps them nowhere public
            for flag in action.option_strings:
                found[flag] = (action.help, action.default, action.const, action.choices, action.type)
        return found

    commands = core_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    predict, video, batch = options(commands["predict"]), options(commands["video"]), options(build_parser())
    shared = ("--model", "--detector", "--tta", "--min-score", "--min-face-size", "--small-faces", "--crops", "--no-verify")
    for flag in shared:
        assert batch[flag] == predict[flag], flag
    for flag in ("--fps", "--smooth", "--min-score", "--no-verify"):
        assert batch[flag] == video[flag], flag
    assert "roles.json" in batch["--model"][0] and "models/default" not in batch["--model"][0]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["x.png", "--out", "o", "--min-score", "1.5"])
