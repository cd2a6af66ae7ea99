"""Fixtures for the app tests: a models folder with a tiny model, and a made-up FER2013 CSV.

Nothing here uses the shipped model or the real dataset, so the page tests are fast and run anywhere.
"""

from __future__ import annotations

# Before anything loads TensorFlow: aiortc's SRTP binding segfaults when loaded after it (see app/ui.py).
import pylibsrtp  # noqa: F401  isort: skip

import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.labels import EMOTIONS, NUM_CLASSES

REPO = Path(__file__).resolve().parents[2]
# AppTest runs an app whose entry script has a pages/ folder beside it as a version-1 multipage app
# (``PagesManager.uses_pages_directory`` is reset before every run), which runs a switched-to page
# without Home.py, its sidebar and its navigation. The real server does that only for the first run
# of a process. So the tests enter the app through a script outside the repository that runs Home.py.
ENTRY_SCRIPT = f"""
import runpy, sys
sys.path.insert(0, {str(REPO)!r})
runpy.run_path({str(REPO / "Home.py")!r}, run_name="__main__")
"""


def app_test(*, timeout: float = 180) -> AppTest:
    """An AppTest of the whole app, entered at ``Home.py`` as ``streamlit run Home.py`` does."""
    return AppTest.from_string(ENTRY_SCRIPT, default_timeout=timeout)


def fake_evaluation(model: str, *, accuracy: float, seed: int = 0) -> dict:
    """An ``evaluation.json`` body with the real schema and made-up, self-consistent numbers."""
    rng = np.random.default_rng(seed)
    confusion = rng.integers(0, 20, size=(NUM_CLASSES, NUM_CLASSES)) + np.eye(NUM_CLASSES, dtype=int) * 60
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    diagonal = np.diag(confusion)
    precision, recall = diagonal / predicted, diagonal / support
    f1 = 2 * precision * recall / (precision + recall)
    bins = [
        {"lower": i / 10, "upper": (i + 1) / 10, "count": int(c), "accuracy": (i + 0.3) / 10 if c else None,
         "confidence": (i + 0.5) / 10 if c else None}
        for i, c in enumerate([0, 3, 10, 30, 50, 60, 40, 30, 20, 10])
    ]  # fmt: skip
    return {
        "model": model, "architecture": "tiny_fer", "split": "PrivateTest", "tta": "none",
        "data": {"source": "fer2013.csv.gz", "layout": "csv", "sha256": None, "notes": []},
        "n": int(confusion.sum()), "labels": list(EMOTIONS), "accuracy": accuracy,
        "macro_f1": float(f1.mean()), "weighted_f1": float((f1 * support).sum() / support.sum()),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support)
        },
        "absent_classes": [],
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_normalised": (confusion / support[:, None]).tolist(),
        "calibration": {"ece": 0.05, "bins": bins},
        "uncertainty": {"min_confidence": 0.4, "min_margin": 0.1, "split": "default", "n": int(confusion.sum()),
                        "marked": 50, "marked_fraction": 50 / int(confusion.sum()), "accuracy": accuracy,
                        "accuracy_unmarked": min(1.0, accuracy + 0.05), "accuracy_marked": accuracy / 2},
        "grouped": {"groups": "positive=happy,negative=angry+disgust+fear+sad,neutral=neutral,surprise=surprise",
                    "accuracy": min(1.0, accuracy + 0.1)},
        "seconds": 1.0, "created": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip


def write_fake_fer_csv(path: Path, *, per_class: int = 2, seed: int = 0) -> Path:
    """A gzipped FER2013-format CSV of random noise faces: ``per_class`` faces per class and split."""
    rng = np.random.default_rng(seed)
    with gzip.open(path, "wt", newline="") as handle:
        handle.write("emotion,pixels,Usage\n")
        for usage in ("Training", "PublicTest", "PrivateTest"):
            for label in range(NUM_CLASSES):
                for _ in range(per_class):
                    pixels = " ".join(str(v) for v in rng.integers(0, 256, 48 * 48))
                    handle.write(f"{label},{pixels},{usage}\n")
    return path


@pytest.fixture(scope="session")
def app_models_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/`` with ``tiny`` (evaluated), ``tiny-b`` (evaluated, with recorded choices) and a broken model."""
    root = tmp_path_factory.mktemp("app_models")
    for name, accuracy, seed in (("tiny", 0.61, 1), ("tiny-b", 0.55, 2)):
        target = root / name
        shutil.copytree(tiny_model_dir, target)
        (target / "evaluation.json").write_text(json.dumps(fake_evaluation(name, accuracy=accuracy, seed=seed)))
    # tiny-b has a test-time augmentation recorded as chosen on PublicTest (training.evaluate --choose-tta).
    meta = json.loads((root / "tiny-b" / "metadata.json").read_text())
    meta["tta"] = {"chosen": "tencrop", "split": "PublicTest", "accuracy": {"none": 0.5, "flip": 0.5, "tencrop": 0.6}}
    # ... and an uncertainty rule that calls every face's top two close (training.evaluate --choose-uncertainty).
    meta["uncertainty"] = {"min_confidence": 0.0, "min_margin": 1.0, "split": "PublicTest"}
    (root / "tiny-b" / "metadata.json").write_text(json.dumps(meta))
    broken = root / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text(json.dumps({"labels": list(EMOTIONS), "model_file": "model-gone.keras"}))
    return root


@pytest.fixture(scope="session")
def fake_fer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small made-up FER2013 CSV (noise faces, every class in every split)."""
    return write_fake_fer_csv(tmp_path_factory.mktemp("fer") / "fer2013.csv.gz")


@pytest.fixture()
def local_server_address() -> Iterator[None]:
    """``server.address`` on the loopback address, as ``streamlit run Home.py --server.address localhost`` sets it."""
    from streamlit import config  # noqa: PLC0415

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)


@pytest.fixture()
def app_env(
    monkeypatch: pytest.MonkeyPatch, app_models_dir: Path, fake_fer_csv: Path, local_server_address: None
) -> dict[str, Path]:
    """Point the app at the test models folder and the made-up dataset, as its owner on this machine."""
    monkeypatch.delenv("FER_APP_PUBLIC", raising=False)
    monkeypatch.setenv("FER_MODELS_DIR", str(app_models_dir))
    monkeypatch.setenv("FER2013_PATH", str(fake_fer_csv))
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return {"models": app_models_dir, "dataset": fake_fer_csv}


@pytest.fixture()
def visitor_env(app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The same app as a visitor sees it: ``FER_APP_PUBLIC=1`` makes everyone a visitor."""
    monkeypatch.setenv("FER_APP_PUBLIC", "1")
    return app_env
