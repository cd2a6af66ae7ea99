"""Mixed precision: chosen from the hardware, set per model (never globally), saved as float32."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from core.model_store import float32_model, load_model_dir, read_model_info
from tests.training.test_train import synthetic_data, tiny_config
from training.architectures import build_model
from training.precision import cpu_flags, policy_name, resolve_precision
from training.train import TrainConfig, train

CPUINFO = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n\nprocessor\t: 1\n"


def policies(model) -> dict[str, str]:
    """Each computing layer's policy (the input layer only holds the input's dtype)."""
    import keras

    return {layer.name: layer.dtype_policy.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}


def test_cpu_flags_read_from_cpuinfo() -> None:
    assert cpu_flags(CPUINFO) == frozenset({"fpu", "sse2", "avx2", "avx512f", "avx512_bf16"})
    assert cpu_flags("no flags line here") == frozenset()


@pytest.mark.parametrize(
    ("requested", "flags", "gpu", "expected"),
    [
        ("auto", {"avx2", "avx512_bf16"}, False, "bfloat16"),
        ("auto", {"amx_bf16"}, False, "bfloat16"),
        ("auto", {"avx2", "avx512f"}, False, "float32"),
        ("auto", set(), True, "bfloat16"),
        ("float32", {"avx512_bf16"}, True, "float32"),
        ("bfloat16", set(), False, "bfloat16"),
    ],
)
def test_auto_picks_bfloat16_only_where_the_hardware_has_it(requested, flags, gpu, expected) -> None:
    assert resolve_precision(requested, flags=frozenset(flags), gpu=gpu) == expected


def test_bad_precisions_are_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("float16")
    with pytest.raises(ValueError, match="resolve 'auto' first"):
        policy_name("auto")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="half")


def test_auto_is_the_default_but_older_checkpoints_stay_float32() -> None:
    assert TrainConfig().precision == "auto"
    older = {k: v for k, v in TrainConfig(arch="tiny").to_dict().items() if k != "precision"}
    assert TrainConfig.from_dict(older).precision == "float32"
    assert TrainConfig.from_dict({**older, "precision": "bfloat16"}).precision == "bfloat16"


def test_policy_is_the_models_own_and_the_softmax_stays_float32() -> None:
    import keras

    model = build_model("tiny", dtype=policy_name("bfloat16"))
    found = policies(model)
    assert found.pop("emotion") == "float32"
    assert set(found.values()) == {"mixed_bfloat16"}
    assert keras.config.dtype_policy().name == "float32"  # nothing global changed
    assert set(policies(build_model("tiny")).values()) == {"float32"}


def test_float32_copy_keeps_the_weights_and_the_answers() -> None:
    mixed = build_model("tiny", dtype=policy_name("bfloat16"))
    copy = float32_model(mixed)
    assert copy is not mixed and set(policies(copy).values()) == {"float32"}
    for a, b in zip(mixed.get_weights(), copy.get_weights(), strict=True):
        assert b.dtype == np.float32 and np.array_equal(a, b)
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1)).astype("float32")
    # bfloat16 keeps 8 bits of mantissa: the probabilities agree to about a percent.
    np.testing.assert_allclose(np.asarray(mixed(faces)), np.asarray(copy(faces)), atol=0.03)
    plain = build_model("tiny")
    assert float32_model(plain) is plain


def test_a_bfloat16_run_saves_a_float32_model(tmp_path: Path) -> None:
    import keras

    result = train(tiny_config(epochs=2, precision="bfloat16"), data=synthetic_data(), out_dir=tmp_path / "m")
    assert result.status == "completed"
    info = read_model_info(tmp_path / "m")
    assert info.ok and info.metadata["precision"] == "bfloat16"
    assert info.metadata["config"]["precision"] == "bfloat16"
    model, _ = load_model_dir(tmp_path / "m")
    assert set(policies(model).values()) == {"float32"}
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert info.metadata.get("tflite_file"), info.metadata.get("tflite_error")
    # The checkpoint keeps the mixed policy, so a resumed run goes on computing in bfloat16.
    resumed = train(tiny_config(epochs=3, precision="bfloat16"), data=synthetic_data(), out_dir=tmp_path / "m", resume=True)
    assert resumed.epochs_run == 3
    assert keras.config.dtype_policy().name == "float32"


def test_training_in_a_thread_leaves_other_models_float32(tmp_path: Path) -> None:
    # The Training page trains in a thread of the app process while other sessions build models.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            train(tiny_config(epochs=1, precision="bfloat16"), data=synthetic_data(), out_dir=tmp_path / "t")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    built = [build_model("tiny") for _ in range(3)]
    worker.join()
    assert not errors
    assert all(set(policies(m).values()) == {"float32"} for m in built)
