"""The "Why?" views (app.explain) on the upload page and in the Evaluation page's gallery, through AppTest,
and their cache: a rerun shows an open map again without computing it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from app import explain
from app.explain import enlarged, why_text
from core.saliency import FaceSaliency
from tests.app.test_pages import _png, run_page, sidebar_model, texts
from tests.core.faces import face_scene


def test_why_text_says_what_red_means_and_how_strong_it_is() -> None:
    heat = np.zeros((48, 48), np.float32)
    crop = np.zeros((48, 48), np.uint8)
    heat[30, 20] = 0.25
    text = why_text(FaceSaliency("happy", 0.8, heat, crop, "flip", 8, 4))
    assert text.startswith("Red: where hiding the face lowers happy (80%) the most, by up to 25 points")
    assert "Both views of flip TTA are averaged" in text
    flat = why_text(FaceSaliency("sad", 0.1, -np.ones((48, 48), np.float32), crop, "none", 8, 4))
    assert flat == "Hiding no part of the face lowers sad (10%): no single region holds it up."


def test_enlarged_scales_small_pictures_up_only() -> None:
    assert enlarged(np.zeros((60, 40, 3), np.uint8)).shape == (192, 128, 3)
    big = np.zeros((300, 200, 3), np.uint8)
    assert enlarged(big) is big


def test_upload_page_why_toggle_shows_the_map_beside_the_chart(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/1_Upload_and_predict.py")
    app.get("file_uploader")[0].set_value([("face.png", _png(face_scene()), "image/png")])
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    pictures = len(app.get("image"))
    why = app.toggle(key="upload_0_why_1")
    assert why.label == "Why?" and not why.value
    why.set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.get("image")) == pictures + 2  # the face as the model sees it, and in the photo
    picker = app.selectbox(key="upload_0_why_1_emotion")
    shown = picker.value
    assert f"{shown} (shown)" in picker.options and len(picker.options) == 7
    assert f"lowers {shown} (" in texts(app.caption)
    other = next(name for name in ("fear", "sad") if name != shown)
    picker.set_value(other).run()
    assert not app.exception, [e.value for e in app.exception]
    assert f"lowers {other} (" in texts(app.caption)
    assert len(app.get("plotly_chart")) == 1  # the chart stays


def test_evaluation_gallery_explains_a_misclassified_face(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/4_Evaluation.py")
    app.toggle(key="eval_gallery").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    pictures = len(app.get("image"))
    app.toggle(key="eval_why_on").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    picker = app.selectbox(key="eval_why_face")
    assert " → " in picker.options[0]  # "#index: true → predicted"
    assert len(app.get("image")) == pictures + 2  # why its answer, and what held up the true label
    assert "Right: the same for the true label." in texts(app.caption)


@pytest.fixture()
def map_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """The emotions app.explain asked core.saliency to explain, per function, from an empty map cache."""
    explain._photo_face_map.clear()
    explain._crop_map.clear()
    calls: dict[str, list[str]] = {"explain_faces": [], "explain_crops": []}
    for name, seen in calls.items():
        real = getattr(explain, name)

        def counted(*args, _real=real, _seen=seen, **kwargs):  # noqa: ANN002, ANN003, ANN202
            _seen.append(kwargs["emotion"])
            return _real(*args, **kwargs)

        monkeypatch.setattr(explain, name, counted)
    yield calls
    explain._photo_face_map.clear()
    explain._crop_map.clear()


def test_upload_page_reruns_reuse_an_open_map_and_compute_only_new_ones(app_env, map_calls) -> None:  # noqa: ANN001
    computed = map_calls["explain_faces"]
    app = run_page("pages/1_Upload_and_predict.py")
    two_faces = face_scene(width=640, height=300, faces=((20, 50), (380, 50)))
    app.get("file_uploader")[0].set_value([("faces.png", _png(two_faces), "image/png")])
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.get("plotly_chart")) == 2, "the drawn scene should give two faces"
    assert computed == []  # no map until one is asked for
    app.toggle(key="upload_0_why_1").set_value(True).run()
    shown = app.selectbox(key="upload_0_why_1_emotion").value
    assert computed == [shown]
    caption = texts(app.caption)
    app.run()  # a rerun...
    app.toggle(key="upload_landmarks").set_value(True).run()  # ...and a click elsewhere on the page
    assert not app.exception, [e.value for e in app.exception]
    assert computed == [shown] and texts(app.caption) == caption  # the open map is shown again, not recomputed
    other = next(name for name in ("fear", "sad") if name != shown)
    app.selectbox(key="upload_0_why_1_emotion").set_value(other).run()  # another emotion: a new map
    assert computed == [shown, other] and f"lowers {other} (" in texts(app.caption)
    app.selectbox(key="upload_0_why_1_emotion").set_value(shown).run()  # and back: the first is still kept
    assert computed == [shown, other]
    app.toggle(key="upload_0_why_2").set_value(True).run()  # the other face: its own map
    assert len(computed) == 3 and computed[2] == app.selectbox(key="upload_0_why_2_emotion").value
    app.run()
    assert len(computed) == 3

    # tiny-b is a copy of tiny (the same weights and checksums), in its own folder: its maps are its own.
    tta = app.radio(key="upload_tta_tiny").value
    sidebar_model(app).select("tiny-b").run()  # tiny-b starts from its own TTA (ten-crop): new maps
    assert not app.exception, [e.value for e in app.exception]
    assert len(computed) == 5
    app.radio(key="upload_tta_tiny-b").set_value(tta).run()  # tiny's TTA: still not tiny's maps
    assert not app.exception, [e.value for e in app.exception]
    assert len(computed) == 7
    app.run()
    sidebar_model(app).select("tiny").run()  # back to tiny: its maps were kept
    assert not app.exception, [e.value for e in app.exception]
    assert len(computed) == 7


def test_gallery_maps_are_kept_per_face_and_model(app_env, map_calls) -> None:  # noqa: ANN001
    computed = map_calls["explain_crops"]
    app = run_page("pages/4_Evaluation.py")
    app.toggle(key="eval_gallery").set_value(True).run()
    app.toggle(key="eval_why_on").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(computed) == 2  # why its answer, and what held up the label
    app.toggle(key="eval_normalised").set_value(False).run()  # a click in another tab
    assert len(computed) == 2
    assert len(app.selectbox(key="eval_why_face").options) > 1
    app.selectbox(key="eval_why_face").select_index(1).run()  # another face: its two maps
    assert len(computed) == 4
    app.selectbox(key="eval_why_face").select_index(0).run()  # back to the first: kept
    assert len(computed) == 4
    app.selectbox(key="eval_model").set_value("tiny-b").run()  # the same weights in another folder
    assert not app.exception, [e.value for e in app.exception]
    assert len(computed) == 6
