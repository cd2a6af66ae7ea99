"""AppTest of the Evaluation page's "Your photos": a visitor uploads a ZIP, runs it, sees every view."""

from __future__ import annotations

import cv2
import pytest

from tests.app.test_pages import run_page, texts
from tests.core.archives import HOSTILE, make_zip
from tests.core.faces import face_scene


def _jpeg(image) -> bytes:  # noqa: ANN001
    return cv2.imencode(".jpg", image)[1].tobytes()


def labelled_zip() -> bytes:
    """Drawn faces in emotion folders (synonyms), a photo with no face, a folder naming no emotion, macOS litter."""
    face = _jpeg(face_scene(width=400, height=300, faces=((100, 50),)))
    return make_zip([
        ("faces/happiness/1.jpg", face), ("faces/happiness/2.jpg", face), ("faces/Sad/3.jpg", face),
        ("faces/scared/4.jpg", _jpeg(face_scene(width=400, height=300, faces=()))),
        ("faces/contempt/5.jpg", face), ("faces/labels.csv", b"path,label,group\nhappiness/1.jpg,happy,lab\nSad/3.jpg,sad,home\n"),
        ("__MACOSX/faces/._1.jpg", b"\0"), ("faces/notes.txt", b"hello"),
    ])  # fmt: skip


def test_a_visitor_evaluates_a_zip_of_their_photos_and_compares_two_models(visitor_env) -> None:  # noqa: ANN001
    app = run_page("pages/4_Evaluation.py")
    app.radio(key="eval_source").set_value("Your photos").run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Upload a ZIP" in texts(app.info)
    app.file_uploader(key="own_zip").set_value(("my faces.zip", labelled_zip(), "application/zip")).run()
    assert "Press Evaluate" in texts(app.caption)
    app.button(key="own_run").click().run()
    assert not app.exception, [e.value for e in app.exception]

    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Photos"] == "4" and metrics["No face found"] == "1"
    assert "contempt" in texts(app.warning)  # the folder naming no emotion of ours is listed...
    assert "Groups with fewer than 30 photos" in texts(app.warning)  # ...and the small groups flagged
    app.run()  # any later rerun (a tab, a filter) shows the kept answer and runs nothing again
    assert app.button(key="own_run").proto.disabled and {m.label: m.value for m in app.metric} == metrics
    # confusion matrix, per-class chart, reliability diagram, groups
    assert len(app.get("plotly_chart")) == 4
    assert {b.proto.label for b in app.get("download_button")} == {"Per-file CSV (tiny)"}
    tables = {tuple(d.value.columns)[-1]: d.value for d in app.dataframe}
    rows = tables["correct"]
    assert list(rows["file"]) == ["faces/happiness/1.jpg", "faces/happiness/2.jpg", "faces/Sad/3.jpg", "faces/scared/4.jpg"]
    left_out = set(tables["why"]["file"])
    assert left_out == {"faces/contempt/5.jpg", "__MACOSX/faces/._1.jpg", "faces/notes.txt"}

    # The tiny model says one emotion of the same face in happy and sad folders: at least one is wrong.
    wrong = [r for r in app.session_state["own_photos_result"].results["tiny"] if r.predicted not in (None, r.label)]
    assert wrong and all(r.crop.shape == (48, 48) and r.crop.dtype == "uint8" for r in wrong)
    images = len(app.get("image"))
    app.toggle(key="own_why_on").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.get("image")) == images + 2  # the two maps side by side
    assert "Right: the same for the true label." in texts(app.caption)
    assert app.selectbox(key="own_why_face").options[0].startswith(wrong[0].name)

    app.selectbox(key="own_compare").set_value("tiny-b").run()
    app.button(key="own_run").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert {b.proto.label for b in app.get("download_button")} == {"Per-file CSV (tiny)", "Per-file CSV (tiny-b)"}
    assert len(app.get("plotly_chart")) == 4 + 3  # plus F1 side by side and both matrices
    assert any(m.label == "tiny-b, all photos" for m in app.metric)


def test_hostile_or_unlabelled_zips_get_their_error_and_nothing_else(visitor_env) -> None:  # noqa: ANN001
    app = run_page("pages/4_Evaluation.py")
    app.radio(key="eval_source").set_value("Your photos").run()
    unlabelled = make_zip([("friends/1.jpg", _jpeg(face_scene()))])
    cases = [(name, *HOSTILE[name]()) for name in ("bomb_declared", "climbing_path", "not_a_zip")]
    cases.append(("unlabelled", unlabelled, "no labelled photo (folders naming no emotion of ours: friends)"))
    for name, data, phrase in cases:
        app.file_uploader(key="own_zip").set_value((f"{name}.zip", data, "application/zip")).run()
        app.button(key="own_run").click().run()
        assert not app.exception, [e.value for e in app.exception]
        assert phrase in texts(app.error) and f"{name}.zip" in texts(app.error), name
        assert not app.metric and not app.get("plotly_chart"), name


def test_the_heavy_work_gate_holds_an_evaluation_back(visitor_env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from app import cache  # noqa: PLC0415
    from app.limits import BUSY_SERVER, HeavyWorkGate  # noqa: PLC0415

    gate = HeavyWorkGate(per_process=1)
    assert gate.try_acquire("someone else")
    monkeypatch.setattr(cache, "heavy_work_gate", lambda: gate)
    app = run_page("pages/4_Evaluation.py")
    app.radio(key="eval_source").set_value("Your photos").run()
    app.file_uploader(key="own_zip").set_value(("my.zip", labelled_zip(), "application/zip")).run()
    app.button(key="own_run").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert BUSY_SERVER in texts(app.warning) and not app.metric


def test_group_accuracy_chart_draws_small_groups_pale_with_their_interval() -> None:
    from app.charts import group_accuracy  # noqa: PLC0415

    groups = [{"group": "frontal", "n": 40, "accuracy": 0.75, "margin": 0.13, "small": False},
              {"group": "profile", "n": 3, "accuracy": 2 / 3, "margin": 0.53, "small": True}]  # fmt: skip
    bar = group_accuracy(groups).data[0]
    assert list(bar.x) == ["frontal", "profile"] and list(bar.y) == [0.75, 2 / 3]
    assert list(bar.error_y.array) == [0.13, 0.53]
    assert bar.marker.color[0] != bar.marker.color[1] and "0.35" in bar.marker.color[1]
    assert list(bar.text) == ["75% (n=40)", "67% (n=3)"]
