"""AppTest of the Training page's "Adapt to your photos": the form, a real tiny adaptation from a
folder on the server with its report, the adapted models' list, and one heavy job at a time."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from app import cache
from app.adapt_job import AdaptJob
from app.jobs import JobBusyError, JobSlot
from app.training_job import TrainingJob
from core.model_store import read_model_info
from tests.app.test_pages import run_page, texts
from tests.training.test_adapt import write_drawn_people

ADAPT = "Adapt to your photos"


@pytest.fixture()
def own_models(app_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder of this test's own (the tiny model), and fresh jobs sharing one slot."""
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(app_env["models"] / "tiny", root / "tiny")
    monkeypatch.setenv("FER_MODELS_DIR", str(root))
    slot = JobSlot()
    training, adapting = TrainingJob(target="tests.app.fake_tasks:fake_train", slot=slot), AdaptJob(slot=slot)
    monkeypatch.setattr(cache, "training_job", lambda: training)
    monkeypatch.setattr(cache, "adapt_job", lambda: adapting)
    return root


def _adapt_section():  # noqa: ANN202
    app = run_page("pages/5_Training.py")
    control = next(w for w in app.get("button_group") if w.key == "training_task")
    control.set_value(ADAPT).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_the_form_offers_upload_or_folder_and_the_base_models(own_models: Path) -> None:
    app = _adapt_section()
    assert app.radio(key="adapt_source").options == ["Upload a ZIP", "A folder or ZIP on the server"]
    assert app.selectbox(key="adapt_base").options[0].startswith("tiny")
    assert app.button(key="adapt_start").disabled  # no photos given yet
    assert "No adapted model yet." in texts(app.info)
    # FER2013 is found (the made-up CSV): replay is on by default, so the model keeps what it knew
    assert app.number_input(key="adapt_replay").value == 500


def test_a_folder_is_adapted_on_and_the_report_and_the_model_appear(own_models: Path, tmp_path: Path) -> None:
    photos = write_drawn_people(tmp_path / "photos")
    app = _adapt_section()
    app.radio(key="adapt_source").set_value("A folder or ZIP on the server").run()
    app.text_input(key="adapt_folder").input(str(photos)).run()
    app.text_input(key="adapt_name").input("mine").run()
    app.selectbox(key="adapt_person").set_value("first 4 characters of the file name").run()
    app.number_input(key="adapt_epochs").set_value(2).run()
    app.number_input(key="adapt_replay").set_value(0).run()
    app.button(key="adapt_start").click().run()
    assert not texts(app.error), texts(app.error)
    job = cache.adapt_job()
    assert job.join(300), "the adaptation ended"
    assert job.snapshot().state == "finished", job.snapshot().error
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Model **mine** is saved" in texts(app.success)
    metrics = {m.label for m in app.metric}
    assert {"Held-out people, after", "Held-out people, before", "FER2013 PublicTest, after"} <= metrics
    assert len(app.get("plotly_chart")) >= 4  # curve, recall, two confusion matrices
    assert "Not used (2)" in [e.label for e in app.expander]  # the photo without a face, the text file
    info = read_model_info(own_models / "mine")
    assert info.ok and info.metadata["adapted"]["source"] == "photos"  # the folder's name, never a server path
    assert any(b.key == "adapted_delete_mine" for b in app.button)
    assert any("**mine**: from tiny" in str(m.value) for m in app.markdown)


def test_an_adaptation_is_refused_while_a_training_runs(own_models: Path, tmp_path: Path) -> None:
    from training.train import TrainConfig

    training = cache.training_job()
    training.start(name="big", config=TrainConfig(arch="tiny", epochs=3), data=tmp_path, models_root=own_models)
    try:
        deadline = time.monotonic() + 30
        while training.snapshot().event is None and time.monotonic() < deadline:
            time.sleep(0.05)
        app = run_page("pages/5_Training.py")
        assert "Training big" in [s.value for s in app.subheader]  # the running job's panel, not the form
        with pytest.raises(JobBusyError, match="one heavy job at a time: model 'big' is still training"):
            cache.adapt_job().start(name="x", base=own_models / "tiny", models_root=own_models, photos=tmp_path)
    finally:
        training.cancel()
        assert training.join(30)


def test_a_running_adaptation_shows_its_progress_and_cancels(
    own_models: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job = AdaptJob(target="tests.app.fake_tasks:fake_adapt")
    monkeypatch.setattr(cache, "adapt_job", lambda: job)
    job.start(name="watch", base=own_models / "tiny", models_root=own_models, photos=tmp_path, epochs=4)
    deadline = time.monotonic() + 30
    while not job.snapshot().history and time.monotonic() < deadline:
        time.sleep(0.05)
    app = run_page("pages/5_Training.py")
    assert not app.exception, [e.value for e in app.exception]
    (bar,) = app.get("progress")
    assert "Epoch 2 of 4: held-out people 60.0%, photos learnt 50.0%" in bar.proto.text
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Time left"] == "8 s" and metrics["Epoch"] == "2 of 4" and metrics["Held-out people, best"] == "60.0%"
    app.button(key="adapt_cancel").click().run()
    assert job.join(15)
    app.run()
    next(w for w in app.get("button_group") if w.key == "training_task").set_value(ADAPT).run()
    assert "Adapting watch was cancelled; nothing was saved." in texts(app.warning)
    assert sorted(p.name for p in own_models.iterdir()) == [".jobs", "tiny"]


def test_your_photos_puts_an_adapted_model_beside_its_base(own_models: Path) -> None:
    import json  # noqa: PLC0415

    shutil.copytree(own_models / "tiny", own_models / "mine")
    meta = json.loads((own_models / "mine" / "metadata.json").read_text())
    (own_models / "mine" / "metadata.json").write_text(json.dumps({**meta, "name": "mine", "adapted": {"base": "tiny"}}))
    app = run_page("pages/4_Evaluation.py")
    app.radio(key="eval_source").set_value("Your photos").run()
    app.selectbox(key="own_model").set_value("mine").run()
    assert app.selectbox(key="own_compare").value == "tiny"
    app.selectbox(key="own_model").set_value("tiny").run()
    assert app.selectbox(key="own_compare").value == "(none)"  # tiny is no longer among the others
