"""Mixed precision for training: bfloat16 compute where the hardware has it, float32 weights always.

The policy is set per model (each layer's ``dtype``), never with ``keras.config.set_dtype_policy``:
a global policy would change every model the process builds meanwhile. Saved models are float32 whatever they were trained in
(:func:`core.model_store.float32_model`), so serving never depends on the training hardware.
"""

from __future__ import annotations

from pathlib import Path

PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
# Keras' policy name for each resolved precision.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
# CPU flags (``/proc/cpuinfo``) under which oneDNN runs bfloat16 matrix work natively.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where they cannot be read."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def accelerator_present() -> bool:
    """A GPU is visible to TensorFlow (bfloat16 is native on every GPU this project trains on)."""
    try:
        import tensorflow as tf  # noqa: PLC0415

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - no TensorFlow, or it cannot list devices: no GPU to use
        return False


def gpu_device_visible() -> bool:
    """An NVIDIA GPU's device file is there (``/dev/nvidia0``): what :func:`accelerator_present` would
    most likely say, without importing TensorFlow (the app's server never does; a page that only shows
    what ``auto`` would pick asks this)."""
    return Path("/dev/nvidia0").exists()


def resolve_precision(requested: str, *, flags: frozenset[str] | None = None, gpu: bool | None = None) -> str:
    """``float32`` or ``bfloat16``: ``auto`` picks bfloat16 on a GPU or a CPU with native bf16.

    Raises:
        ValueError: an unknown precision.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {requested!r}")
    if requested != "auto":
        return requested
    if gpu if gpu is not None else accelerator_present():
        return "bfloat16"
    return "bfloat16" if (flags if flags is not None else cpu_flags()) & BF16_CPU_FLAGS else "float32"


def policy_name(precision: str) -> str:
    """Keras dtype policy name for a resolved precision (``float32`` or ``bfloat16``)."""
    if precision not in POLICIES:
        raise ValueError(f"precision must be float32 or bfloat16 here (resolve 'auto' first), not {precision!r}")
    return POLICIES[precision]
