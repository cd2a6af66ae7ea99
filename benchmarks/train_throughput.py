"""Training throughput (images per second) per registered architecture, on all cores.

Runs in its own process (``python -m benchmarks.train_throughput``) so that the one-core settings of
the speed sections do not apply. Each architecture is built exactly as ``training.train`` builds it
(augmentation layers in front of the served model, AdamW, label smoothing, class weights) and fitted
for a few batches of 128 on random faces (speed does not depend on pixel values); the first batches,
which trace the graph, are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

SKIPPED = {"tiny": "test-only architecture, never shipped"}


def measure(arch: str, *, batch_size: int, warmup_batches: int, batches: int, precision: str = "float32") -> dict[str, Any]:
    """Images per second over ``batches`` timed batches after ``warmup_batches`` untimed ones."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from core.labels import NUM_CLASSES  # noqa: PLC0415
    from training.config import TrainConfig  # noqa: PLC0415
    from training.trainer import build_training_model  # noqa: PLC0415 - the exact training graph

    total = warmup_batches + batches
    config = TrainConfig(arch=arch, batch_size=batch_size, precision=precision)
    _, trainer = build_training_model(config, total)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (total * batch_size, 48, 48, 1)).astype("float32")
    y = np.eye(NUM_CLASSES, dtype="float32")[rng.integers(0, NUM_CLASSES, total * batch_size)]
    weights = np.ones(total * batch_size, dtype="float32")
    ends: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            ends.append(time.perf_counter())

    trainer.fit(
        x, y, sample_weight=weights, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[Clock()]
    )
    timed = ends[warmup_batches - 1 :] if warmup_batches else ends
    seconds = timed[-1] - timed[0]
    counted = len(timed) - 1
    return {
        "arch": arch, "precision": precision, "batch_size": batch_size, "batches_timed": counted,
        "images_per_s": counted * batch_size / seconds if seconds > 0 else None,
        "s_per_batch": seconds / counted if counted else None,
        "params": int(trainer.count_params()),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup-batches", type=int, default=2)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--arch", action="append", help="only these architectures (repeatable)")
    parser.add_argument(
        "--precision", action="append", choices=("float32", "bfloat16"),
        help="compute precisions to time (repeatable; default float32, and bfloat16 where the CPU has it natively)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.warmup_batches < 1 or args.batches < 1:
        parser.error("--warmup-batches and --batches must be at least 1 (the first batch traces the graph)")
    from training.architectures import list_architectures  # noqa: PLC0415
    from training.precision import resolve_precision  # noqa: PLC0415

    precisions = args.precision or sorted({"float32", resolve_precision("auto")}, key=("float32", "bfloat16").index)
    rows = []
    for arch in args.arch or list(list_architectures()):
        if arch in SKIPPED and not args.arch:
            rows.append({"arch": arch, "skipped": SKIPPED[arch]})
            continue
        for precision in precisions:
            rows.append(measure(
                arch, batch_size=args.batch_size, warmup_batches=args.warmup_batches, batches=args.batches,
                precision=precision,
            ))  # fmt: skip
    print(json.dumps({"cpu_count": os.cpu_count(), "auto_precision": resolve_precision("auto"), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
