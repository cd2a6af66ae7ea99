"""Fixtures shared by every test layer."""

from __future__ import annotations

import os

# Must happen before anything imports TensorFlow; the only import-time side effect we allow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# aiortc's SRTP binding segfaults the process when it is loaded after TensorFlow (their TLS
# libraries clash); load it first so no test order can crash the run (ui.py does the same).
import pylibsrtp  # noqa: E402, F401

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def app_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The app's disk cache (``FER_CACHE_DIR``: parsed datasets) in a temporary folder for the whole run.

    No test writes into the user's own cache folder; subprocesses the tests start inherit it too.
    """
    folder = tmp_path_factory.mktemp("app-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FER_CACHE_DIR", str(folder))
        yield folder


def make_tiny_model(*, seed: int = 0):  # noqa: ANN201 - keras is imported lazily
    """A tiny FER-shaped Keras model: raw (48, 48, 1) 0..255 in, 7 softmax probabilities out.

    Weights are seeded and large enough that different faces get clearly different answers.
    """
    import keras  # noqa: PLC0415

    inputs = keras.Input((48, 48, 1), name="face")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Conv2D(
        4, 3, strides=4, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed=seed)
    )(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(
        7,
        activation="softmax",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=seed + 1),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=seed + 2),
    )(x)
    return keras.Model(inputs, outputs, name="tiny_fer")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory (core.model_store format) holding an untrained tiny model, built once per run."""
    from core.model_store import save_model_dir  # noqa: PLC0415

    out = tmp_path_factory.mktemp("models") / "tiny"
    save_model_dir(make_tiny_model(), {"name": "tiny", "architecture": "tiny_fer", "note": "untrained, for tests"}, out)
    return out
