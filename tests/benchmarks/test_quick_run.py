"""``python -m benchmarks.run --quick`` runs end to end on the tiny test model and writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.real_data import REAL_FER2013, SKIP_REASON

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_writes_tables_and_json(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tests.docs.documented import cli  # noqa: PLC0415 - the command docs/benchmarks.md shows

    out = tmp_path / "results.json"
    _, printed = cli("benchmarks quick", capsys, model=tiny_model_dir, out=out)
    assert "Classify faces" in printed and "Targets" in printed
    results = json.loads(out.read_text())
    assert results["quick"] is True and results["pinning"]["tf_intra_op_threads"] == 1
    assert {r["batch"] for r in results["sections"]["classify"]} == {1, 16}
    assert results["fer"] == {"skipped": "--no-fer"}
    saliency = {r["tta"]: r for r in results["sections"]["saliency"]}
    assert {t: r["model_calls"] for t, r in saliency.items()} == {"none": 122, "flip": 244, "tencrop": 1220}
    assert all(r["median_ms"] > 0 and r["cpu_ms"] > 0 for r in saliency.values()) and "Saliency" in printed
    target = next(t for t in results["targets"] if t["target"].startswith("saliency map"))
    assert target["value"] == saliency["none"]["median_ms"]  # the tiny model chose no TTA
    if "frame" in results["sections"]:  # needs the FER2013 CSV for its test frames
        assert {r["faces"] for r in results["sections"]["frame"]} == {1, 5}
    else:
        assert "frame" in results["skipped"]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.skipif(REAL_FER2013 is None, reason=SKIP_REASON)
def test_photo_section_times_every_detector_on_the_photos(tiny_model_dir: Path) -> None:
    from benchmarks.yunet_photos import CROWD, UNCHECKED, UNVERIFIED, photo_section

    summary = photo_section(REAL_FER2013, None, repeats=1, model=tiny_model_dir)
    default = summary["default"]
    assert default == "yunet (still default)" and summary["model"] == tiny_model_dir.name
    assert [r["size"] for r in summary["rows"]] == ["640x480", "640x480", "4000x3000", "640x480"]
    assert summary["rows"][-1]["photo"] == f"640x480 crowd, {CROWD} small faces"
    for row in summary["rows"]:
        for label in (default, "haar", "blazeface (full)", "fer (haar)"):
            assert row[label]["detect_ms"] > 0 and row[label]["found"] >= 0
        assert row["detect_vs_fer"] == pytest.approx(row["fer (haar)"]["detect_ms"] / row[default]["detect_ms"], rel=0.02)
        assert row["end_to_end_ms"] > 0
        assert row[UNCHECKED]["found"] == row[default]["found"]  # no animals here: the face checks drop nothing
        assert row[UNVERIFIED]["found"] == row[default]["found"]  # nor the face verifier: these are all faces
    # YuNet at every scale finds the single face, and more than fer's Haar in the 12-MP photo.
    one, _, big, crowd = summary["rows"]
    assert crowd[default]["found"] >= CROWD // 2
    assert one[default]["found"] == 1 and big[default]["found"] >= big["fer (haar)"]["found"]
    assert "real_photos" not in summary  # no --samples
