"""app.dataset_view, app.upload, app.webrtc_config and app.training_job, on small synthetic inputs."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
import urllib.error
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.dataset_view import class_indices, locate_dataset, locate_ferplus, misclassified, paginate, upscale_faces
from core.labels import EMOTIONS
from app.training_job import (
    CANCELLED,
    FAILED,
    FINISHED,
    JobBusyError,
    Resources,
    TrainingJob,
    detect_resources,
    validate_model_name,
)
from training.train import TrainConfig
from app.upload import (
    UploadOutcome, analyse_upload, analyse_uploads, annotated_name, dominant_emotion, emotion_counts, encode_png,
    photo_rows, results_csv, results_json, results_rows, tta_label,
)
from app.webrtc_config import fetch_twilio_ice_servers, read_ice_settings, resolve_ice_servers, rtc_configuration

# --- dataset_view -----------------------------------------------------------------------------


def test_locate_dataset_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv.gz"
    second.write_text("x")
    found = locate_dataset(candidates=[first, second])
    assert found.path == second and found.source == "default"
    first.write_text("x")
    assert locate_dataset(env=str(second), candidates=[first]).source == "FER2013_PATH"
    assert locate_dataset(typed=str(first), env=str(second)).path == first
    assert locate_dataset(secret=str(second), candidates=[first]).source == "secrets"


def test_locate_dataset_explicit_missing_is_reported_not_replaced(tmp_path: Path) -> None:
    fallback = tmp_path / "fer2013.csv"
    fallback.write_text("x")
    found = locate_dataset(env=str(tmp_path / "nope.csv"), candidates=[fallback])
    assert not found.found and "nope.csv (FER2013_PATH): not found" in found.problem
    (tmp_path / "folder").mkdir()
    assert "without train/" in locate_dataset(typed=str(tmp_path / "folder")).problem
    (tmp_path / "folder" / "train").mkdir()
    assert locate_dataset(typed=str(tmp_path / "folder")).found


def test_locate_dataset_takes_a_folder_that_holds_the_csv(tmp_path: Path) -> None:
    (tmp_path / "fer2013.csv").write_text("x")
    (tmp_path / "fer2013.csv.gz").write_text("x")
    found = locate_dataset(env=str(tmp_path), candidates=())
    assert found.path == tmp_path / "fer2013.csv.gz" and found.source == "FER2013_PATH"  # gzipped first
    assert locate_dataset(candidates=[tmp_path]).path == tmp_path / "fer2013.csv.gz"


def test_locate_ferplus_order(tmp_path: Path) -> None:
    explicit, beside = tmp_path / "votes.csv", tmp_path / "data" / "fer2013new.csv"
    beside.parent.mkdir()
    beside.write_text("x")
    assert locate_ferplus(dataset=tmp_path / "data" / "fer2013.csv.gz") == beside
    explicit.write_text("x")
    assert locate_ferplus(env=str(explicit), dataset=tmp_path / "data" / "fer2013.csv.gz") == explicit
    assert locate_ferplus(env=str(tmp_path / "missing.csv"), dataset=tmp_path / "data" / "x.csv") == beside


def test_paginate() -> None:
    first = paginate(100, page=1, per_page=48)
    assert (first.count, first.start, first.stop, first.total) == (3, 0, 48, 100)
    last = paginate(100, page=9, per_page=48)
    assert (last.number, last.start, last.stop) == (3, 96, 100)
    assert paginate(0, page=1, per_page=10).count == 1
    with pytest.raises(ValueError, match="per_page must be >= 1"):
        paginate(10, page=1, per_page=0)


def test_class_indices_and_misclassified() -> None:
    y_true = np.array([0, 3, 3, 6, 2])
    y_pred = np.array([0, 6, 3, 3, 3])
    assert class_indices(y_true, "happy").tolist() == [1, 2]
    assert class_indices(y_true, None).tolist() == [0, 1, 2, 3, 4]
    assert misclassified(y_true, y_pred).tolist() == [1, 3, 4]
    assert misclassified(y_true, y_pred, true_class="happy").tolist() == [1]
    assert misclassified(y_true, y_pred, predicted="happy").tolist() == [3, 4]
    assert misclassified(y_true, y_pred, true_class="fear", predicted="happy").tolist() == [4]
    with pytest.raises(ValueError, match="unknown emotion 'joy'"):
        misclassified(y_true, y_pred, true_class="joy")


def test_upscale_faces_keeps_pixels() -> None:
    faces = np.arange(2 * 48 * 48, dtype=np.uint8).reshape(2, 48, 48)
    (big, _) = upscale_faces(faces, size=96)
    assert big.shape == (96, 96) and big[1, 1] == faces[0, 0, 0] and big[2, 2] == faces[0, 1, 1]


# --- upload ----------------------------------------------------------------------------------


class FakeRecognizer:
    def predict_image(self, image: np.ndarray, *, detector: str | None = None) -> list:
        from core.recognizer import FaceResult  # noqa: PLC0415

        probs = dict.fromkeys(EMOTIONS, 0.05) | {"happy": 0.7}
        return [FaceResult((4, 4, 20, 20), 0.9, "happy", 0.7, probs)]


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


class TwoFaces:
    """Two faces, sure (0.95) and doubtful (0.4), with landmarks on the first."""

    def predict_image(self, image: np.ndarray, *, detector: str | None = None, **options: object) -> list:
        from core.recognizer import FaceResult  # noqa: PLC0415

        probs = dict.fromkeys(EMOTIONS, 0.05) | {"happy": 0.7}
        points = ((40.0, 45.0), (80.0, 45.0), (60.0, 60.0), (45.0, 80.0), (75.0, 80.0))
        return [
            FaceResult((20, 20, 80, 80), 0.95, "happy", 0.7, probs, landmarks=points),
            FaceResult((130, 20, 60, 60), 0.4, "happy", 0.7, probs),
        ]


def test_analyse_upload_minimum_score_numbers_and_landmarks() -> None:
    photo = _png(np.full((200, 220, 3), 90, np.uint8))
    every = analyse_upload("p.png", photo, TwoFaces(), detector="yunet")
    sure = analyse_upload("p.png", photo, TwoFaces(), detector="yunet", min_score=0.5)
    assert [f.detection_score for f in every.faces] == [0.95, 0.4]
    assert [f.detection_score for f in sure.faces] == [0.95]
    assert [row["face"] for row in results_rows([every])] == [1, 2]
    dotted = analyse_upload("p.png", photo, TwoFaces(), detector="yunet", landmarks=True)
    # The face points are drawn only when asked, and only inside the first face.
    changed = np.any(dotted.annotated_bgr != every.annotated_bgr, axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.any() and xs.min() >= 20 and xs.max() < 100 and ys.min() >= 20 and ys.max() < 100


def test_annotate_numbers_faces_in_order() -> None:
    from core.annotate import annotate  # noqa: PLC0415
    from core.recognizer import FaceResult  # noqa: PLC0415

    probs = dict.fromkeys(EMOTIONS, 0.05) | {"happy": 0.7}
    faces = [FaceResult((20, 60, 80, 80), 0.9, "happy", 0.7, probs), FaceResult((130, 60, 60, 60), 0.9, "happy", 0.7, probs)]
    image = np.full((200, 220, 3), 90, np.uint8)
    plain, numbered = annotate(image, faces), annotate(image, faces, numbered=True)
    assert np.array_equal(annotate(image, faces, numbered=False), plain)
    assert not np.array_equal(plain, numbered)  # the labels carry "1: " and "2: "


def test_analyse_upload_good_and_bad_files() -> None:
    good = analyse_upload("a.png", _png(np.full((40, 40, 3), 90, np.uint8)), FakeRecognizer(), detector="haar")
    bad = analyse_upload("b.jpg", b"GIF89a-not-really", FakeRecognizer(), detector="haar")
    assert good.ok and len(good.faces) == 1 and good.annotated_bgr.shape == (40, 40, 3)
    assert not bad.ok and bad.image_bgr is None and bad.error
    rows = results_rows([good, bad])
    assert rows == [
        {"file": "a.png", "face": 1, "says": "happy", "emotion": "happy", "confidence": 0.7, "box (x, y, w, h)": "4, 4, 20, 20",
         "detector score": 0.9}
    ]  # fmt: skip
    payload = json.loads(results_json([good, bad], model="tiny", detector="haar"))
    assert payload["model"] == "tiny" and payload["images"][1]["error"] == bad.error
    table = list(csv.DictReader(io.StringIO(results_csv([good, bad]))))
    assert [r["path"] for r in table] == ["a.png", "b.jpg"] and table[0]["prob_happy"] == "0.7"
    assert cv2.imdecode(np.frombuffer(encode_png(good.annotated_bgr), np.uint8), cv2.IMREAD_COLOR).shape == (40, 40, 3)
    assert annotated_name("holiday.photo.jpg") == "holiday.photo.annotated.png"
    assert annotated_name("../../etc/passwd") == "passwd.annotated.png"
    assert annotated_name("C:\\Users\\me\\face.jpg") == "face.annotated.png"


class Doubtful:
    """One face: sad .38, neutral .33, the rest .058 each (close under any margin above .05)."""

    def predict_image(self, image: np.ndarray, *, detector: str | None = None, **options: object) -> list:
        from core.recognizer import FaceResult  # noqa: PLC0415

        probs = dict.fromkeys(EMOTIONS, 0.058) | {"sad": 0.38, "neutral": 0.33}
        return [FaceResult((4, 4, 20, 20), 0.9, "sad", 0.38, probs)]


def test_upload_results_carry_the_flag_and_the_groups() -> None:
    from core.groups import DEFAULT_GROUPING  # noqa: PLC0415
    from core.readout import Readout  # noqa: PLC0415
    from core.uncertainty import UncertaintyRule  # noqa: PLC0415

    rule = UncertaintyRule(min_confidence=0.4, min_margin=0.1, source="PublicTest")
    readout = Readout(rule, DEFAULT_GROUPING)
    image = _png(np.full((40, 40, 3), 90, np.uint8))
    outcome = analyse_upload("a.png", image, Doubtful(), detector="haar", rule=rule)
    plain = analyse_upload("a.png", image, Doubtful(), detector="haar")
    assert not np.array_equal(outcome.annotated_bgr, plain.annotated_bgr)  # "sad or neutral", not "sad"
    (row,) = results_rows([outcome], readout=readout)
    # negative = angry + disgust + fear + sad = .058 * 3 + .38 = .554: the face's group.
    assert (row["says"], row["group"], row["emotion"]) == ("sad or neutral", "negative", "sad")
    payload = json.loads(results_json([outcome], model="m", detector="haar", readout=readout))
    face = payload["images"][0]["faces"][0]
    assert (face["uncertain"], face["label"], face["group"]) == ("close", "sad or neutral", "negative")
    assert face["group_probabilities"] == pytest.approx({"positive": 0.058, "negative": 0.554, "neutral": 0.33, "surprise": 0.058})
    assert face["probabilities"]["sad"] == 0.38 and len(face["probabilities"]) == 7
    assert payload["uncertainty"] == {"min_confidence": 0.4, "min_margin": 0.1, "split": "PublicTest"}
    assert payload["groups"] == "positive=happy,negative=angry+disgust+fear+sad,neutral=neutral,surprise=surprise"
    (csv_row,) = csv.DictReader(io.StringIO(results_csv([outcome], readout=readout)))
    assert (csv_row["uncertain"], csv_row["label"], csv_row["group"]) == ("close", "sad or neutral", "negative")
    assert float(csv_row["group_prob_negative"]) == pytest.approx(0.554) and csv_row["prob_neutral"] == "0.33"


def _outcome(name: str, *emotions: tuple[str, float], error: str | None = None) -> UploadOutcome:
    """An analysed photo whose faces, left to right, show ``(emotion, confidence)``."""
    from core.recognizer import FaceResult  # noqa: PLC0415

    faces = tuple(
        FaceResult((10 + 60 * i, 10, 40, 40), 0.9, emotion, p, dict.fromkeys(EMOTIONS, 0.0) | {emotion: p})
        for i, (emotion, p) in enumerate(emotions)
    )  # fmt: skip
    image = None if error else np.zeros((60, 60 * max(1, len(emotions)), 3), np.uint8)
    return UploadOutcome(name, image, faces, image, error)


def test_several_photos_summary_counts_faces_and_names_each_photos_dominant_emotion() -> None:
    outcomes = [
        _outcome("party.jpg", ("happy", 0.9), ("sad", 0.6), ("happy", 0.5)),
        _outcome("tie.jpg", ("sad", 0.6), ("angry", 0.8)),  # one each: the surer face decides
        _outcome("wall.jpg"),
        _outcome("broken.jpg", error="not a supported image"),
    ]
    counts = emotion_counts(outcomes)
    assert list(counts) == list(EMOTIONS) and list(counts.values()) == [1, 0, 0, 2, 2, 0, 0]
    assert dominant_emotion(outcomes[1].faces) == "angry" and dominant_emotion(()) is None
    assert photo_rows(outcomes) == [
        {"photo": "party.jpg", "faces": 3, "dominant emotion": "happy", "emotions": "2 happy, 1 sad", "note": ""},
        {"photo": "tie.jpg", "faces": 2, "dominant emotion": "angry", "emotions": "1 angry, 1 sad", "note": ""},
        {"photo": "wall.jpg", "faces": 0, "dominant emotion": "", "emotions": "", "note": "no face found"},
        {"photo": "broken.jpg", "faces": 0, "dominant emotion": "", "emotions": "", "note": "not read: not a supported image"},
    ]  # fmt: skip
    # The downloads hold every photo's faces, numbered from 1 in each photo as drawn on it.
    table = list(csv.DictReader(io.StringIO(results_csv(outcomes))))
    assert [(r["path"], r["face"]) for r in table] == [
        ("party.jpg", "1"), ("party.jpg", "2"), ("party.jpg", "3"), ("tie.jpg", "1"), ("tie.jpg", "2"),
        ("wall.jpg", ""), ("broken.jpg", ""),
    ]  # fmt: skip
    images = json.loads(results_json(outcomes, model="tiny", detector="yunet"))["images"]
    assert [[face["face"] for face in image["faces"]] for image in images] == [[1, 2, 3], [1, 2], [], []]
    assert [row["face"] for row in results_rows(outcomes)] == [1, 2, 3, 1, 2]


# --- webrtc_config ---------------------------------------------------------------------------


def test_ice_settings_default_is_no_outside_server() -> None:
    settings = read_ice_settings({}, {})
    assert settings.source == "none" and rtc_configuration(settings.servers) == {"iceServers": []}


def test_ice_settings_from_secrets_and_twilio() -> None:
    secrets = {"webrtc": {"ice_servers": [{"urls": "turn:t.example:3478", "username": "u", "credential": "c"}]}}
    settings = read_ice_settings(secrets, {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"})
    assert settings.source == "secrets"
    assert settings.servers == ({"urls": ["turn:t.example:3478"], "username": "u", "credential": "c"},)
    twilio = read_ice_settings({"twilio": {"account_sid": "AC1", "auth_token": "tok"}}, {})
    assert (twilio.source, twilio.twilio_sid, twilio.twilio_token) == ("twilio", "AC1", "tok")
    half = read_ice_settings({}, {"TWILIO_ACCOUNT_SID": "AC1"})
    assert half.source == "none" and half.problem.endswith("auth_token (TWILIO_AUTH_TOKEN) is missing")


def test_ice_settings_reject_bad_urls() -> None:
    with pytest.raises(ValueError, match=r"ice_servers\[0\].urls must be stun:/turn: URLs"):
        read_ice_settings({"webrtc": {"ice_servers": [{"urls": "http://example.com"}]}}, {})


class FakeResponse(io.BytesIO):
    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_fetch_twilio_ice_servers_request_and_answer() -> None:
    seen = {}

    def urlopen(request, timeout):  # noqa: ANN001, ANN202
        seen.update(url=request.full_url, auth=request.get_header("Authorization"), body=request.data, timeout=timeout)
        stun = "stun:global.stun.twilio.com:3478"
        turn = {"urls": "turn:global.turn.twilio.com:443?transport=tcp", "username": "u", "credential": "p"}
        answer = {"ice_servers": [{"url": stun, "urls": stun}, turn]}
        return FakeResponse(json.dumps(answer).encode())

    servers = fetch_twilio_ice_servers("AC123", "secret", urlopen=urlopen)
    assert seen["url"] == "https://api.twilio.com/2010-04-01/Accounts/AC123/Tokens.json"
    assert seen["auth"] == "Basic QUMxMjM6c2VjcmV0" and seen["body"] == b"Ttl=3600"
    assert servers[1] == {"urls": ["turn:global.turn.twilio.com:443?transport=tcp"], "username": "u", "credential": "p"}


def test_fetch_twilio_ice_servers_errors() -> None:
    def refused(request, timeout):  # noqa: ANN001, ANN202
        raise urllib.error.HTTPError(request.full_url, 401, "Unauthorized", {}, None)

    with pytest.raises(ValueError, match="HTTP 401 \\(check account_sid and auth_token\\)"):
        fetch_twilio_ice_servers("AC1", "bad", urlopen=refused)

    def offline(request, timeout):  # noqa: ANN001, ANN202
        raise urllib.error.URLError("no route")

    with pytest.raises(ValueError, match="cannot reach Twilio"):
        fetch_twilio_ice_servers("AC1", "t", urlopen=offline)


# --- training_job ----------------------------------------------------------------------------


def test_validate_model_name(app_env, tmp_path: Path) -> None:  # noqa: ANN001
    shutil.copytree(app_env["models"] / "tiny", tmp_path / "fast")
    (tmp_path / "left-over" / "checkpoint").mkdir(parents=True)  # what a killed run once left: holds no name
    assert validate_model_name("  my-model_2.1 ", models_root=tmp_path) == "my-model_2.1"
    assert validate_model_name("left-over", models_root=tmp_path) == "left-over"
    for bad, message in (("", "give the model a name"), ("../evil", "not allowed"), (".hidden", "not allowed"),
                         ("a" * 49, "not allowed"), ("fast", "already exists; choose another name$")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            validate_model_name(bad, models_root=tmp_path)


def test_resources_warning() -> None:
    assert Resources(16, 64 * 1024**3).warning() is None
    assert "2 CPU cores" in Resources(2, 64 * 1024**3).warning()
    assert "1.0 GB of memory" in Resources(8, 1024**3).warning()


def test_detect_resources_reads_cgroup_limits() -> None:
    files = {"/sys/fs/cgroup/cpu.max": "150000 100000", "/sys/fs/cgroup/memory.max": str(2 * 1024**3),
             "/proc/meminfo": "MemTotal:       16000000 kB\n"}  # fmt: skip
    resources = detect_resources(read=files.get)
    assert resources.cpus == 1.5 and resources.memory_bytes == 2 * 1024**3
    files = {"/sys/fs/cgroup/cpu.max": "max 100000", "/proc/meminfo": "MemTotal: 1024 kB"}
    unlimited = detect_resources(read=files.get)
    assert unlimited.cpus >= 1 and unlimited.memory_bytes == 1024 * 1024


FAKE_TRAIN = "tests.app.fake_tasks:fake_train"


def _until(check, within: float = 30) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_training_job_runs_one_at_a_time_in_a_child_and_cancels(tmp_path: Path) -> None:
    job = TrainingJob(target=FAKE_TRAIN)
    assert job.snapshot().state == "idle" and not job.cancel()
    job.start(name="first", config=TrainConfig(arch="tiny", epochs=3), data=tmp_path / "fer.csv", models_root=tmp_path)
    assert _until(lambda: job.snapshot().event is not None), "no progress reached the snapshot"
    snapshot = job.snapshot()
    assert snapshot.active and snapshot.phase == "training" and snapshot.fraction == pytest.approx(0.5)
    assert snapshot.eta_s == 75.0 and snapshot.history["val_accuracy"] == [0.35] and snapshot.event.rate == 2.5
    assert job.child_pid is not None and job.child_pid != os.getpid()
    with pytest.raises(JobBusyError, match="'first' is still training"):
        job.start(name="second", config=TrainConfig(), data=tmp_path / "fer.csv", models_root=tmp_path)
    (tmp_path / "first.release").touch()
    assert job.join(30)
    done = job.snapshot()
    assert done.state == FINISHED and done.fraction == 1.0 and done.result.status == "completed"

    job.start(name="second", config=TrainConfig(), data=tmp_path / "fer.csv", models_root=tmp_path)
    assert _until(lambda: job.snapshot().event is not None)
    pid = job.child_pid
    started = time.monotonic()
    assert job.cancel() and job.snapshot().cancel_requested and job.snapshot().phase == "cancelling"
    assert job.join(15) and time.monotonic() - started < 10
    assert job.snapshot().state == CANCELLED and job.snapshot().result is None
    assert _until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".jobs", "first.release"]  # no models/second
    assert list((tmp_path / ".jobs").iterdir()) == []


def test_training_job_reports_failures(tmp_path: Path) -> None:
    job = TrainingJob(target="tests.app.fake_tasks:fails")
    job.start(name="x", config=TrainConfig(), data=tmp_path / "p", models_root=tmp_path)
    assert job.join(30)
    snapshot = job.snapshot()
    assert snapshot.state == FAILED and snapshot.error == "bad input"
    with pytest.raises(ValueError, match="not allowed"):
        job.start(name="bad name!", config=None, data="p", models_root=tmp_path)


def test_tta_label_marks_the_models_own_choice() -> None:
    assert tta_label("flip", "flip") == "Flip (2 views), chosen on PublicTest"
    assert tta_label("tencrop", "flip") == "Ten-crop (10 views)"
    assert tta_label("none", "none") == "Off"


def test_ice_servers_from_hugging_face_and_nothing_fetched_unasked() -> None:
    hf = read_ice_settings({}, {"HF_TOKEN": "hf_x"})
    assert hf.source == "huggingface" and hf.hf_token == "hf_x"
    assert read_ice_settings({"huggingface": {"token": "hf_y"}}, {}).hf_token == "hf_y"
    assert read_ice_settings({"twilio": {"account_sid": "AC1", "auth_token": "t"}}, {"HF_TOKEN": "h"}).source == "twilio"
    calls: list[str] = []

    def twilio(sid: str, token: str) -> list[dict]:
        calls.append("twilio")
        return [{"urls": ["turn:t.example:3478"]}]

    def huggingface(token: str) -> list[dict]:
        calls.append("hf:" + token)
        return [{"urls": "turn:hf.example:3478", "username": "u", "credential": "c"}]

    servers, problem = resolve_ice_servers(hf, twilio=twilio, huggingface=huggingface)
    assert servers == [{"urls": ["turn:hf.example:3478"], "username": "u", "credential": "c"}] and problem is None
    nothing = read_ice_settings({}, {})
    assert resolve_ice_servers(nothing, twilio=twilio, huggingface=huggingface) == ([], None)
    assert calls == ["hf:hf_x"]  # with nothing configured, nothing is fetched
    assert rtc_configuration([]) == {"iceServers": []}  # explicit: the library then adds no server of its own

    def broken(token: str) -> list[dict]:
        raise ValueError("Hugging Face refused the token")

    servers, problem = resolve_ice_servers(hf, twilio=twilio, huggingface=broken)
    assert servers == [] and problem.startswith("Hugging Face refused the token")


def test_analyse_uploads_keeps_a_run_within_its_pixel_budget() -> None:
    from app.limits import Limits  # noqa: PLC0415

    small = _png(np.full((1000, 1000, 3), 90, np.uint8))  # 1 megapixel each
    limits = Limits(megapixels_per_run=2.5)
    outcomes = analyse_uploads(
        [("a.png", small), ("b.png", small), ("c.png", small), ("bad.jpg", b"not an image")], FakeRecognizer(),
        limits=limits, detector="haar",
    )  # fmt: skip
    assert [o.ok for o in outcomes] == [True, True, False, False]
    assert "3.0 megapixels" in outcomes[2].error and "2.5" in outcomes[2].error and outcomes[2].image_bgr is None
    assert "megapixels" not in outcomes[3].error  # an unreadable file is reported as such


class _CheckedDetector:
    """A YuNet stand-in whose checks dropped one box."""

    def examine(self, image: np.ndarray):  # noqa: ANN201
        from core.detection import Detection, DetectionReport, Dropped  # noqa: PLC0415

        return DetectionReport(
            [Detection((20, 20, 80, 80), 0.95)], [Dropped(Detection((130, 20, 60, 60), 0.8), "scales", "why")]
        )


class _FacesFromDetections(TwoFaces):
    def detector(self, detector: object = None) -> _CheckedDetector:
        return _CheckedDetector()

    def predict_faces(self, image: np.ndarray, detections: list, **options: object) -> list:
        return [face for face in self.predict_image(image) if face.box in [d.box for d in detections]]


def test_analyse_upload_keeps_and_draws_the_dropped_boxes_only_on_request() -> None:
    photo = _png(np.full((200, 220, 3), 90, np.uint8))
    plain = analyse_upload("p.png", photo, _FacesFromDetections(), detector="yunet")
    shown = analyse_upload("p.png", photo, _FacesFromDetections(), detector="yunet", show_dropped=True)
    assert plain.dropped == () and [d.rule for d in shown.dropped] == ["scales"]
    assert [f.box for f in shown.faces] == [(20, 20, 80, 80)]
    # The dropped box is drawn in gray with its label; the kept face's box is untouched.
    changed = np.any(shown.annotated_bgr != analyse_upload("p.png", photo, _FacesFromDetections(), detector="yunet",
                                                           min_score=0.5).annotated_bgr, axis=2)  # fmt: skip
    assert changed.any() and not changed[20:100, 20:100].any()
    assert tuple(shown.annotated_bgr[50, 130]) == (128, 128, 128)
