"""The "Why?" views (app.explain) on the upload page and in the Evaluation page's gallery, through AppTest."""

from __future__ import annotations

import numpy as np

from app.explain import enlarged, why_text
from core.saliency import FaceSaliency
from tests.app.test_pages import _png, run_page, texts
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
