"""AppTest smoke tests: every page runs without an exception and shows its key elements.

They use a tiny untrained model in a temporary models folder and a made-up FER2013 CSV (see
``conftest.py``), never the shipped model or the real dataset.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import pytest
from streamlit.testing.v1 import AppTest

from core.paths import DATASET_CACHE
from tests.app.conftest import REPO, app_test
from tests.core.faces import face_scene

TIMEOUT = 180  # the first page that loads the model also imports TensorFlow


def run_page(path: str, *, prepare=None) -> AppTest:  # noqa: ANN001
    """Open the app at ``Home.py`` and go to the page ``path``, through the app's own navigation."""
    app = app_test()
    if prepare is not None:
        prepare(app)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    if path != "Home.py":
        app.switch_page(str(REPO / path)).run()
        assert not app.exception, [e.value for e in app.exception]
    return app


def texts(elements) -> str:  # noqa: ANN001
    return "\n".join(str(e.value) for e in elements)


def sidebar_model(app: AppTest):  # noqa: ANN201
    return app.selectbox(key="sidebar_model")


def model_names(app: AppTest) -> list[str]:
    """Model names in the sidebar selector (its options read "name: accuracy split"), after Automatic."""
    options = sidebar_model(app).options
    assert options[0].startswith("Automatic")
    return [option.split(":")[0].split(" (")[0] for option in options[1:]]


def test_home_lists_pages_and_model_card(app_env) -> None:  # noqa: ANN001
    app = run_page("Home.py")
    assert app.title[0].value == "Facial emotion recognition"
    links = {link.label for link in app.get("page_link")}
    assert {"Upload and predict", "Live webcam", "Dataset browser", "Evaluation", "Training"} <= links
    assert model_names(app) == ["tiny", "tiny-b"]  # the broken model is skipped...
    assert "model-gone.keras" in texts(app.sidebar.caption)  # ...and listed with its error
    assert "Model card: tiny" in texts(app.subheader)
    assert any("61.0%" in str(m.value) for m in app.metric)
    (card,) = app.table
    assert card.proto.hide_header  # facts name themselves: no empty header row above them
    facts = dict(zip(card.value.index, card.value.iloc[:, 0]))
    assert facts["Use of the weights"].startswith("research use only")
    assert facts["When it says it is unsure"].startswith("“A or B” when the top two are within")


def test_home_does_not_load_tensorflow(app_env) -> None:  # noqa: ANN001
    code = (
        "import sys; from streamlit.testing.v1 import AppTest\n"
        f"app = AppTest.from_file({str(REPO / 'Home.py')!r}, default_timeout=60); app.run()\n"
        "assert not app.exception, app.exception\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "False"]


def test_model_choice_survives_page_switch(app_env) -> None:  # noqa: ANN001
    app = run_page("Home.py")
    sidebar_model(app).select("tiny-b").run()
    assert "Model card: tiny-b" in texts(app.subheader)
    app.switch_page(str(REPO / "pages/4_Evaluation.py")).run()
    assert not app.exception
    assert sidebar_model(app).value == "tiny-b"
    assert app.selectbox(key="eval_model").value == "tiny-b"


def _png(image) -> bytes:  # noqa: ANN001
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def test_upload_page_shows_faces_and_bad_files(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/1_Upload_and_predict.py")
    assert "Upload one or more photos" in texts(app.info)
    files = [
        ("face.png", _png(face_scene()), "image/png"),
        ("broken.jpg", b"this is not a picture", "image/jpeg"),
        ("blank.png", _png(face_scene(faces=())), "image/png"),
    ]
    app.get("file_uploader")[0].set_value(files)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "broken.jpg" in texts(app.error)  # the bad file gets its own error...
    assert "No face found" in texts(app.warning)  # ...the blank one a hint...
    assert len(app.get("plotly_chart")) == 2  # ...the face its probability chart, beside the summary's
    assert app.get("image"), "the annotated image is shown"
    assert app.dataframe[-1].value.shape[0] == 1  # the results table: one face
    labels = {button.proto.label for button in app.get("download_button")}
    assert {"Annotated PNG", "Results as JSON", "Results as CSV"} <= labels


def test_upload_page_starts_several_photos_with_their_summary(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/1_Upload_and_predict.py")
    app.get("file_uploader")[0].set_value([("one.png", _png(face_scene()), "image/png")]).run()
    assert "Summary" not in texts(app.subheader)  # one photo: no summary
    files = [
        ("two.png", _png(face_scene(width=900, faces=((20, 100), (480, 100)))), "image/png"),
        ("one.png", _png(face_scene()), "image/png"),
        ("blank.png", _png(face_scene(faces=())), "image/png"),
    ]
    app.get("file_uploader")[0].set_value(files).run()
    assert not app.exception, [e.value for e in app.exception]
    subheaders = [h.value for h in app.subheader]
    assert subheaders[:2] == ["Summary", "two.png"]  # the summary comes before the photos
    summary = app.dataframe[0].value.to_dict("records")
    assert [(row["photo"], row["faces"]) for row in summary] == [("two.png", 2), ("one.png", 1), ("blank.png", 0)]
    faces = app.dataframe[-1].value.to_dict("records")  # the results table
    assert [(row["file"], row["face"]) for row in faces] == [("two.png", 1), ("two.png", 2), ("one.png", 1)]
    assert summary[1]["dominant emotion"] == faces[2]["emotion"]
    chart = app.get("plotly_chart")[0]
    assert "Faces per emotion: 3 faces in 3 photos" in chart.proto.spec


def test_upload_page_small_faces_finds_the_tiny_faces_of_a_large_photo(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/1_Upload_and_predict.py")
    assert not app.toggle(key="upload_small_faces").value
    crowd = face_scene(width=4000, height=3000, faces=((300, 300), (2900, 2500)), size=40)
    _, jpeg = cv2.imencode(".jpg", crowd, [cv2.IMWRITE_JPEG_QUALITY, 95])
    app.get("file_uploader")[0].set_value([("crowd.jpg", jpeg.tobytes(), "image/jpeg")])
    app.run()
    assert "No face found" in texts(app.warning)  # shrunk to 1280 px, the faces are lost
    app.toggle(key="upload_small_faces").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.get("plotly_chart")) == 2
    assert app.dataframe[0].value.shape[0] == 2
    app.radio(key="upload_detector").set_value("haar").run()
    assert app.toggle(key="upload_small_faces").proto.disabled  # YuNet's pass only


def test_upload_page_minimum_confidence_starts_at_the_detectors_own_and_reaches_it(app_env) -> None:  # noqa: ANN001
    from tests.core.faces import faint_face_scene  # noqa: PLC0415

    app = run_page("pages/1_Upload_and_predict.py")
    assert app.slider(key="upload_min_score_yunet").value == 0.6  # YuNet's own: the default view is unchanged
    app.get("file_uploader")[0].set_value([("faint.png", _png(faint_face_scene()), "image/png")]).run()
    assert "No face found" in texts(app.warning)  # YuNet scores this face about 0.43
    app.slider(key="upload_min_score_yunet").set_value(0.3).run()  # below YuNet's own: the detector looks further
    assert not app.exception, [e.value for e in app.exception]
    assert app.dataframe[-1].value.shape[0] == 1
    app.slider(key="upload_min_score_yunet").set_value(0.55).run()
    assert "No face found" in texts(app.warning)
    app.radio(key="upload_detector").set_value("haar").run()
    assert app.slider(key="upload_min_score_haar").value == 0.0  # every box the cascade accepts


def test_upload_page_starts_from_the_models_own_tta_choice(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/1_Upload_and_predict.py")
    assert sidebar_model(app).value == ""  # Automatic: with no roles.json and no "fast", the first model
    assert app.radio(key="upload_tta_tiny").value == "none"  # nothing recorded: off
    sidebar_model(app).select("tiny-b").run()
    tta = app.radio(key="upload_tta_tiny-b")
    assert tta.value == "tencrop"
    assert "Ten-crop (10 views), chosen on PublicTest" in tta.options


def test_upload_page_says_when_unsure_and_shows_groups(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/1_Upload_and_predict.py")
    sidebar_model(app).select("tiny-b").run()  # its rule calls every face close: "A or B"
    app.get("file_uploader")[0].set_value([("face.png", _png(face_scene()), "image/png")])
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    table = app.dataframe[0].value
    said = table["says"].iloc[0]
    first, second = said.split(" or ")
    assert table["emotion"].iloc[0] == first and second != first
    title = app.get("plotly_chart")[0].proto.spec
    assert f"Face 1: {said}" in title
    assert "within 100%" in texts(app.caption) and "chosen on PublicTest" in texts(app.caption)
    app.toggle(key="upload_grouped").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert list(spec["data"][0]["y"]) == ["positive", "negative", "neutral", "surprise"]
    assert sum(spec["data"][0]["x"]) == pytest.approx(1.0, abs=1e-6)
    grouped = app.dataframe[0].value
    assert grouped["group"].iloc[0] == spec["data"][0]["y"][max(range(4), key=lambda i: spec["data"][0]["x"][i])]
    app.text_input(key="upload_groups").set_value("good=happy+joy").run()
    assert "unknown emotion 'joy' in group 'good'; allowed: angry, disgust" in texts(app.error)
    assert len(json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]["y"]) == 7  # back to the seven


class FakeStreamer:
    """Stands in for ``webrtc_streamer`` (which needs a live server): pushes one frame through the callback."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.outputs: list = []

    def __call__(self, **kwargs):  # noqa: ANN003, ANN204
        import av  # noqa: PLC0415

        self.calls.append(kwargs)
        # A face at webcam distance (about 115 px wide in 640x480): every detector's video preset finds it.
        frame = av.VideoFrame.from_ndarray(face_scene(faces=((170, 90),), size=150), format="bgr24")
        loop = asyncio.new_event_loop()
        try:
            self.outputs.append(loop.run_until_complete(kwargs["queued_video_frames_callback"]([frame, frame])))
        finally:
            loop.close()
        return SimpleNamespace(state=SimpleNamespace(playing=True, signalling=True))


def test_live_page_callback_feeds_the_panel(app_env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import streamlit_webrtc  # noqa: PLC0415

    fake = FakeStreamer()
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", fake)
    app = run_page("pages/2_Live_webcam.py")
    assert fake.calls and fake.calls[0]["rtc_configuration"] == {"iceServers": []}  # no outside servers by default
    assert len(fake.outputs[0]) == 1  # two frames in, the newest out: the older one was dropped
    assert "**Face 1:**" in texts(app.markdown)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Dropped frames"] == "1"
    assert app.get("plotly_chart"), "the emotion-mix chart is shown"


def test_live_page_labels_unsure_faces_and_groups_the_mix(app_env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import streamlit_webrtc  # noqa: PLC0415

    def tiny_b_grouped(app: AppTest) -> None:
        app.session_state["model_name"] = "tiny-b"  # its rule calls every face close
        app.session_state["live_grouped"] = True

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", FakeStreamer())
    app = run_page("pages/2_Live_webcam.py", prepare=tiny_b_grouped)
    panel = texts(app.markdown)
    assert "**Face 1:** " in panel and " or " in panel.split("**Face 1:** ")[1].split("(")[0]
    mix = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert [trace["name"] for trace in mix["data"]] == ["positive", "negative", "neutral", "surprise"]


def test_live_page_records_and_stops_to_a_summary_per_face(app_env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import streamlit_webrtc  # noqa: PLC0415

    from core.labels import EMOTIONS  # noqa: PLC0415
    from core.tracking import SmoothedFace  # noqa: PLC0415

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", FakeStreamer())  # one frame through the callback a run
    app = run_page("pages/2_Live_webcam.py")
    assert "No frame or picture is kept" in texts(app.caption)
    app.button(key="live_record").click().run()
    assert not app.exception, [e.value for e in app.exception]
    recorder = app.session_state["live_recorder"]
    assert recorder.status().recording and recorder.status().frames == 1  # this run's frame, through the callback
    assert app.slider(key="live_smoothing").proto.disabled  # no new processor (and numbering) mid-recording
    assert "Recording: " in texts(app.caption)
    # The worker thread's side, driven directly: four more frames of face 1, happy, then sad.
    for i, emotion in enumerate(("happy", "happy", "sad", "sad")):
        probs = dict.fromkeys(EMOTIONS, 0.05) | {emotion: 0.7}
        recorder.add(time.monotonic() + 0.01 * i, [SmoothedFace(1, (170, 90, 150, 150), emotion, 0.7, probs, probs, 0.9)])
    app.button(key="live_stop").click().run()
    assert not app.exception, [e.value for e in app.exception]
    kept = app.session_state["live_recording"]
    assert kept.frames_analysed == 5 and {row.face for row in kept.rows} == {1}
    assert not recorder.status().recording and app.button(key="live_record")  # ready for another
    assert "Recording" in [h.value for h in app.header]
    assert [row["face"] for row in app.dataframe[0].value.to_dict("records")] == [1]  # the summary, as the Video page's
    labels = {button.proto.label for button in app.get("download_button")}
    assert {"Timeline as CSV", "Timeline as JSON"} <= labels
    # At the duration limit the recorder stops by itself and the page shows what it kept.
    app.button(key="live_record").click().run()
    recorder.add(time.monotonic() + recorder.max_seconds + 1, [])
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "reached its limit" in texts(app.info) and app.session_state["live_recording"].stopped_by_limit


def test_live_page_snapshot_fallback(app_env) -> None:  # noqa: ANN001
    def snapshots(app: AppTest) -> None:
        app.session_state["live_mode"] = "Snapshots"

    app = run_page("pages/2_Live_webcam.py", prepare=snapshots)
    assert app.get("camera_input"), "st.camera_input is offered"
    assert "take a snapshot" in texts(app.info)


def test_dataset_page_with_and_without_data(app_env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    app = run_page("pages/3_Dataset_browser.py")
    assert len(app.get("plotly_chart")) == 1  # class distribution
    assert app.get("image"), "the face grid and the augmentation preview are shown"
    app.selectbox(key="dataset_class").select("happy").run()
    assert not app.exception

    monkeypatch.setenv("FER2013_PATH", str(app_env["dataset"].parent / "missing.csv"))
    app = run_page("pages/3_Dataset_browser.py")
    assert "not shipped with the app" in texts(app.info)
    assert not app.error


def test_a_dataset_page_past_the_end_says_so_and_shows_the_last(app_env) -> None:  # noqa: ANN001
    app = run_page("pages/3_Dataset_browser.py")
    app.selectbox(key="dataset_class").select("happy").run()
    app.select_slider(key="dataset_per_page").set_value(24).run()
    assert not app.warning
    app.number_input(key="dataset_page_Training_happy_24").set_value(120).run()
    assert not app.exception, [e.value for e in app.exception]
    assert texts(app.warning) == (
        "Page 120 is past the end: Training's happy faces fill 1 page of 24; showing the last page."
    )
    assert "Faces 1-2 of 2" in texts(app.caption)

    app.selectbox(key="dataset_class").select("all").run()
    app.number_input(key="dataset_page_Training_all_24").set_value(2).run()
    assert "Training's faces fill 1 page of 24" in texts(app.warning)
    app.number_input(key="dataset_page_Training_all_24").set_value(1).run()
    assert not app.warning


def test_the_dataset_pages_keep_the_parsed_dataset_in_the_cache_folder(
    app_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path  # noqa: ANN001
) -> None:
    from app import cache  # noqa: PLC0415
    from training.data import CACHE_META  # noqa: PLC0415

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    cache._dataset.clear()  # AppTest runs in this process: an earlier test's load would answer
    run_page("pages/3_Dataset_browser.py")
    (entry,) = (tmp_path / "cache" / DATASET_CACHE).iterdir()
    assert entry.name.startswith(app_env["dataset"].name) and (entry / CACHE_META).is_file()
    cache._dataset.clear()


def test_evaluation_page(app_env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    app = run_page("pages/4_Evaluation.py")
    assert {m.label for m in app.metric} >= {"Accuracy", "Macro-F1", "ECE", "Accuracy in 4 groups", "Marked unsure"}
    rest = next(m for m in app.metric if m.label == "Accuracy of the rest")
    assert rest.value.endswith("%") and "the marked ones are" in rest.proto.help
    # confusion matrix, per-class chart, reliability diagram, comparison (F1 + two matrices)
    assert len(app.get("plotly_chart")) == 6
    app.toggle(key="eval_gallery").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert "misclassified faces" in texts(app.caption)

    monkeypatch.setenv("FER2013_PATH", str(app_env["dataset"].parent / "missing.csv"))
    app = run_page("pages/4_Evaluation.py")
    assert "needs FER2013" in texts(app.info)


def test_training_page_trains_and_lists_the_model(app_env, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from app import cache  # noqa: PLC0415

    models = tmp_path / "models"
    shutil.copytree(app_env["models"] / "tiny", models / "tiny")
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    app = run_page("pages/5_Training.py")
    app.text_input(key="train_name").input("tiny").run()
    app.button(key="train_start").click().run()
    assert "already exists" in texts(app.error)

    app.text_input(key="train_name").input("from-test").run()
    app.selectbox(key="train_arch").select("tiny").run()
    app.number_input(key="train_epochs").set_value(1).run()
    app.selectbox(key="train_batch").select(32).run()
    app.button(key="train_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job = cache.training_job()
    assert job.join(timeout=TIMEOUT), "training did not finish"
    deadline = time.monotonic() + 30
    while not app.success and time.monotonic() < deadline:
        app.run()
    assert "from-test" in texts(app.success), (job.snapshot().error, texts(app.error))
    assert "from-test" in model_names(app)
    assert (models / "from-test" / "evaluation.json").is_file()


def test_training_page_recipe_distils_from_a_listed_model_with_mixup(app_env, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from app import cache  # noqa: PLC0415

    models = tmp_path / "models"
    shutil.copytree(app_env["models"] / "tiny", models / "tiny")
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    app = run_page("pages/5_Training.py")
    assert "tiny" in app.selectbox(key="train_teacher").options
    app.text_input(key="train_name").input("student").run()
    app.selectbox(key="train_arch").select("tiny").run()
    app.number_input(key="train_epochs").set_value(1).run()
    app.selectbox(key="train_batch").select(32).run()
    app.selectbox(key="train_precision").select("float32").run()
    app.number_input(key="train_mixup").set_value(0.2).run()
    app.selectbox(key="train_teacher").select("tiny").run()
    app.slider(key="train_distill_weight").set_value(0.3).run()
    app.button(key="train_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job = cache.training_job()
    assert job.join(timeout=TIMEOUT), "training did not finish"
    assert job.snapshot().state == "finished", job.snapshot().error
    meta = json.loads((models / "student" / "metadata.json").read_text())
    assert meta["config"]["mixup"] == pytest.approx(0.2) and meta["config"]["distill_weight"] == pytest.approx(0.3)
    assert meta["teacher"]["name"] == "tiny" and meta["precision"] == "float32"


def test_training_page_fine_tunes_a_model_of_the_same_architecture(app_env, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from app import cache  # noqa: PLC0415

    models = tmp_path / "models"
    shutil.copytree(app_env["models"] / "tiny", models / "tiny")  # architecture tiny_fer: not offered for tiny
    monkeypatch.setenv("FER_MODELS_DIR", str(models))

    def start(name: str, init: str | None) -> None:
        app = run_page("pages/5_Training.py")
        app.text_input(key="train_name").input(name).run()
        app.selectbox(key="train_arch").select("tiny").run()
        app.number_input(key="train_epochs").set_value(1).run()
        app.selectbox(key="train_batch").select(32).run()
        options = app.selectbox(key="train_init").options
        assert options[0].startswith("random weights") and "tiny" not in options
        if init is not None:
            app.selectbox(key="train_init").select(init).run()
            assert app.number_input(key="train_lr_tune").value == pytest.approx(2e-4)  # a tenth of from scratch
        else:
            assert app.number_input(key="train_lr_scratch").value == pytest.approx(2e-3)
        app.button(key="train_start").click().run()
        assert not app.exception, [e.value for e in app.exception]
        assert cache.training_job().join(timeout=TIMEOUT), "training did not finish"
        assert cache.training_job().snapshot().state == "finished", cache.training_job().snapshot().error

    start("base", None)
    start("tuned", "base")
    meta = json.loads((models / "tuned" / "metadata.json").read_text())
    assert meta["init"]["name"] == "base" and meta["config"]["learning_rate"] == pytest.approx(2e-4)
    assert json.loads((models / "base" / "metadata.json").read_text())["init"] is None


def test_training_page_offers_the_serving_recipes_and_the_ferplus_blend(app_env, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from app import cache  # noqa: PLC0415

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    from training.data import load_fer2013  # noqa: PLC0415

    rows = 1 + max(int(split.index.max()) for split in load_fer2013(app_env["dataset"]).splits.values())
    votes = "".join(f"Training,fer{i}.png,0,0,0,0,10,0,0,0,0,0\n" for i in range(rows))
    ferplus = tmp_path / "fer2013new.csv"
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
    ferplus.write_text(header + votes)
    app = run_page("pages/5_Training.py")
    app.text_input(key="train_name").input("served").run()
    app.selectbox(key="train_arch").select("tiny").run()
    app.number_input(key="train_epochs").set_value(1).run()
    app.selectbox(key="train_batch").select(32).run()
    app.selectbox(key="train_precision").select("float32").run()
    app.toggle(key="train_serve_jitter").set_value(True).run()
    app.slider(key="train_photometric").set_value(0.2).run()
    app.toggle(key="train_equalize").set_value(True).run()
    app.radio(key="train_labels").set_value("FER2013 labels blended with FER+ votes").run()
    app.slider(key="train_ferplus_blend").set_value(0.4).run()
    app.text_input(key="train_ferplus").input(str(ferplus)).run()
    app.button(key="train_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job = cache.training_job()
    assert job.join(timeout=TIMEOUT), "training did not finish"
    assert job.snapshot().state == "finished", (job.snapshot().state, job.snapshot().error)
    meta = json.loads((models / "served" / "metadata.json").read_text())
    config = meta["config"]
    assert config["augment"]["serve_jitter"] and config["equalize"] and config["photometric"] == pytest.approx(0.2)
    assert config["ferplus_blend"] == pytest.approx(0.4) and not config["ferplus"]


def _fake_training_started(name: str, monkeypatch, tmp_path: Path):  # noqa: ANN001, ANN202
    """The Training page with a run of ``name`` started on the fake child routine and reporting; ``(app, job)``."""
    from app import cache  # noqa: PLC0415
    from app.training_job import TrainingJob  # noqa: PLC0415

    job = TrainingJob(target="tests.app.fake_tasks:fake_train")  # the child reports as training.tasks does
    monkeypatch.setattr(cache, "training_job", lambda: job)
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path))
    app = run_page("pages/5_Training.py")
    app.text_input(key="train_name").input(name).run()
    app.button(key="train_start").click().run()
    deadline = time.monotonic() + 30
    while job.snapshot().event is None and time.monotonic() < deadline:
        time.sleep(0.05)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert job.snapshot().active, (job.snapshot(), texts(app.error))
    return app, job


def test_training_page_shows_progress_and_cancels(app_env, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    app, job = _fake_training_started("watch-me", monkeypatch, tmp_path)
    (bar,) = app.get("progress")
    assert "Training: epoch 2 of 3, batch 2 of 4, 2.5 batches/s, 1 min 15 s left, loss 1.700" in bar.proto.text
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Time left"] == "1 min 15 s" and metrics["Loss (this epoch)"] == "1.700"
    assert app.get("plotly_chart"), "live curves"
    app.button(key="train_cancel").click().run()
    assert job.snapshot().cancel_requested
    assert job.join(15)
    app.run()
    assert "watch-me was cancelled; nothing was saved" in texts(app.warning)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".jobs"] and not list((tmp_path / ".jobs").iterdir())


def test_training_page_stops_early_on_request(app_env, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    app, job = _fake_training_started("stop-me", monkeypatch, tmp_path)
    app.button(key="train_stop").click().run()
    assert job.snapshot().phase == "stopping"
    assert job.join(15)
    assert job.snapshot().state == "cancelled" and job.snapshot().result.status == "cancelled"


# --- roles ---------------------------------------------------------------------------------------


def test_a_visitor_sees_no_training_page_and_is_told_who_they_are(visitor_env) -> None:  # noqa: ANN001
    app = run_page("Home.py")
    links = {link.label for link in app.get("page_link")}
    assert "Training" not in links and {"Upload and predict", "Video", "Evaluation"} <= links
    assert "Visitor (public deployment)" in texts(app.sidebar.caption)
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not in the navigation at all
        app.switch_page(str(REPO / "pages/5_Training.py"))


def test_the_owner_sees_the_training_page_and_is_told_so(app_env) -> None:  # noqa: ANN001
    app = run_page("Home.py")
    assert "Training" in {link.label for link in app.get("page_link")}
    assert "Owner (local)" in texts(app.sidebar.caption)


def test_the_training_page_run_alone_for_a_visitor_goes_through_the_entry(visitor_env) -> None:  # noqa: ANN001
    # What Streamlit does on a server's first visit to a page URL (app.entry): it runs the page file
    # alone. The page hands over to the entry, whose visitor navigation has no Training page.
    app = AppTest.from_file(str(REPO / "pages/5_Training.py"), default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.button and not app.number_input  # no training form at all
    assert "Training" not in {link.label for link in app.get("page_link")}
    assert "Facial emotion recognition" in texts(app.title)  # the home page instead
    assert "Visitor" in texts(app.sidebar.caption)


def test_a_proxied_request_is_a_visitor_even_on_a_loopback_address(app_env, monkeypatch) -> None:  # noqa: ANN001
    from app import identity  # noqa: PLC0415

    real = identity.resolve_role

    def through_a_proxy(**kwargs):  # noqa: ANN003, ANN202 - AppTest sends no headers of its own
        return real(**{**kwargs, "headers": {"Host": "localhost:8501", "X-Forwarded-For": "203.0.113.9"}})

    monkeypatch.setattr(identity, "resolve_role", through_a_proxy)
    app = run_page("Home.py")
    assert "Training" not in {link.label for link in app.get("page_link")}
    assert "Visitor" in texts(app.sidebar.caption)


def test_a_visitor_gets_no_dataset_path_box_and_sees_no_server_path(visitor_env) -> None:  # noqa: ANN001
    app = run_page("pages/3_Dataset_browser.py")
    assert not app.text_input, "a visitor cannot point the app at a server file"
    shown = texts(app.caption) + texts(app.markdown) + texts(app.info) + texts(app.error)
    assert str(visitor_env["dataset"].parent) not in shown and visitor_env["dataset"].name in shown


HOSTILE_PATHS = (
    "/proc/self/environ", "../../../../proc/self/environ", "/etc/passwd", ".streamlit/secrets.toml", "/dev/zero",
)


def _everything_shown(app: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "exception", "code", "text", "success"):
        parts.append(texts(getattr(app, kind)))
    return "\n".join(parts)


@pytest.mark.parametrize("page", ["pages/3_Dataset_browser.py", "pages/5_Training.py"])
def test_hostile_paths_in_the_owners_path_boxes_show_no_contents(app_env, monkeypatch, page: str) -> None:  # noqa: ANN001
    canary = "CANARY-7f3a9c-" + page[-12:-3]
    monkeypatch.setenv("FER_TEST_CANARY", canary)
    app = run_page(page)
    boxes = [box for box in app.text_input if box.key in ("dataset_path_browser", "dataset_path_training")]
    assert boxes, "the owner has a dataset path box on this page"
    for path in HOSTILE_PATHS:
        box = next(b for b in app.text_input if b.key == boxes[0].key)
        box.input(path).run()
        assert not app.exception, [e.value for e in app.exception]
        shown = _everything_shown(app)
        assert canary not in shown and "root:" not in shown and "SHELL=" not in shown, (path, shown[-500:])


def test_a_visitor_is_not_shown_the_path_of_a_broken_dataset(visitor_env, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    broken = tmp_path / "hidden-folder" / "fer2013.csv"
    broken.parent.mkdir()
    broken.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    monkeypatch.setenv("FER2013_PATH", str(broken))
    app = run_page("pages/3_Dataset_browser.py")
    shown = _everything_shown(app)
    assert "cannot be read" in texts(app.error) and "hidden-folder" not in shown


@pytest.mark.parametrize(("email", "owner"), [("owner@example.com", True), ("someone@example.com", False)])
def test_a_signed_in_user_is_the_owner_only_when_allow_listed(app_env, email: str, owner: bool) -> None:  # noqa: ANN001
    from streamlit import config  # noqa: PLC0415

    config.set_option("server.address", "")  # every interface, as on a deployment: no local owner
    app = app_test(timeout=TIMEOUT)
    app.user = {"email": email, "is_logged_in": True, "email_verified": True}
    app.secrets = {"app": {"owners": ["Owner@Example.com"]}}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    links = {link.label for link in app.get("page_link")}
    assert ("Training" in links) is owner
    expected = f"Owner (signed in as {email})" if owner else f"Visitor (signed in as {email}, not an owner)"
    assert expected in texts(app.sidebar.caption)
    if owner:  # the owner flow still reaches the training form
        app.switch_page(str(REPO / "pages/5_Training.py")).run()
        assert not app.exception and not app.error
        assert app.button(key="train_start")


def test_upload_page_shows_the_boxes_the_face_checks_dropped_on_request(app_env) -> None:  # noqa: ANN001
    pytest.importorskip("skimage", reason="scikit-image's cat is the animal face the checks drop")
    from benchmarks.false_faces import on_canvas, skimage_bgr  # noqa: PLC0415

    cat = on_canvas(cv2.resize(skimage_bgr("chelsea"), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))
    app = run_page("pages/1_Upload_and_predict.py")
    assert not app.toggle(key="upload_show_dropped").value
    app.get("file_uploader")[0].set_value([("cat.png", _png(cat), "image/png")])
    app.run()
    assert "No face found" in texts(app.warning)  # no emotion on the cat
    assert "Left out by the face checks" not in texts(app.caption)
    app.toggle(key="upload_show_dropped").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert (
        "Left out by the face checks or the face verifier (gray boxes): scales (0.72): not found at the 320-px pass"
        in texts(app.caption)
    )
    assert "No face found" in texts(app.warning)


def test_upload_page_reads_only_peoples_faces_unless_told_otherwise(app_env) -> None:  # noqa: ANN001
    from benchmarks.false_faces import draw_animal, on_canvas  # noqa: PLC0415

    dog = on_canvas(draw_animal(120, "dog"))  # YuNet: 0.86, past its face checks; the verifier: 0.01
    app = run_page("pages/1_Upload_and_predict.py")
    assert app.toggle(key="upload_verify").value  # on by default
    app.get("file_uploader")[0].set_value([("dog.png", _png(dog), "image/png")])
    app.toggle(key="upload_show_dropped").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert "No face found" in texts(app.warning)  # no emotion on the dog
    shown = texts(app.caption)
    assert "verifier (0.86): face verifier (MTCNN O-Net): face probability 0.0" in shown and "under 0.2" in shown
    app.toggle(key="upload_verify").set_value(False).run()  # every box the detector finds
    assert not app.exception, [e.value for e in app.exception]
    assert "No face found" not in texts(app.warning)
    assert "verifier" not in texts(app.caption)
    app.radio(key="upload_detector").set_value("mtcnn").run()
    assert app.toggle(key="upload_verify").disabled and app.toggle(key="upload_show_dropped").disabled


def test_automatic_serves_each_page_with_its_roles_model_and_a_pick_overrides_both(
    app_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path  # noqa: ANN001
) -> None:
    import streamlit_webrtc  # noqa: PLC0415

    from core.model_store import ROLES_FILE  # noqa: PLC0415

    models = tmp_path / "models"
    shutil.copytree(app_env["models"], models)
    (models / ROLES_FILE).write_text(json.dumps({"default": "tiny", "live": "tiny-b"}))
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", FakeStreamer())

    app = run_page("Home.py")
    options = sidebar_model(app).options
    assert options[0] == "Automatic (tiny, tiny-b)"  # short: the sidebar's selector cuts long text
    assert "**tiny** reads photos and video; **tiny-b** reads the webcam." in texts(app.sidebar.caption)
    assert [o.split(" · ")[-1] for o in options[1:3]] == ["photos and video", "the webcam"]  # each model's role
    assert "Model card: tiny" in texts(app.subheader)  # the default model's card
    assert "live video uses **tiny-b**" in texts(app.caption)
    app.switch_page(str(REPO / "pages/2_Live_webcam.py")).run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.session_state["live_settings"][0].name == "tiny-b"  # the live video's processor: the live model
    assert "read by **tiny-b**, the live model" in texts(app.caption)
    app.segmented_control(key="live_mode").set_value("Snapshots").run()
    assert "Snapshots are read by **tiny**" in texts(app.caption)

    sidebar_model(app).select("tiny").run()  # a pick overrides both roles
    app.segmented_control(key="live_mode").set_value("Live video").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.session_state["live_settings"][0].name == "tiny" and "the live model" not in texts(app.caption)
    assert "**tiny** reads everything: photos, video and the webcam." in texts(app.sidebar.caption)
