"""Average the weights of several epochs of one training run (stochastic weight averaging).

    python -m training.train ... --out runs/fast --snapshots        # keeps checkpoint/epoch-NNN.keras
    python -m training.average --data data/fer2013.csv.gz --run runs/fast \\
        --epochs 40 60 68 --out models/fast-swa

Averaging the weights of models from the same run, taken where the learning rate was low (the ends
of warm-restart cycles, or the last epochs of one), lands nearer the middle of the flat region they
share and usually generalises better than any one of them (Izmailov et al., 2018, "Averaging Weights
Leads to Wider Optima and Better Generalization"). An average of weights is one model: it serves at
the cost of one model, unlike an ensemble.

The batch-normalisation statistics of averaged weights are not the average of the statistics, so
they are measured again: one pass over the Training images, un-augmented, with dropout off. The
result is scored on PublicTest, which is how it is chosen (or not) over the run's own best epoch;
PrivateTest is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FERError
from core.labels import FER2013_TERMS
from core.layers import register_layers
from core.model_store import METADATA_FILE, save_model_dir
from training.batchnorm import accuracy, recalibrate_batchnorm
from training.checkpoint_files import CHECKPOINT_DIR, snapshot_name
from training.config import TrainingError
from training.data import FERData, load_fer2013


def average_models(models: Sequence[Any]) -> Any:
    """A new model with the same architecture as ``models[0]`` and the mean of all their weights.

    Raises:
        TrainingError: no models, or models whose weights do not line up (another architecture).
    """
    import keras  # noqa: PLC0415

    if not models:
        raise TrainingError("nothing to average: no models given")
    first = models[0]
    shapes = [tuple(w.shape) for w in first.weights]
    for other in models[1:]:
        if [tuple(w.shape) for w in other.weights] != shapes:
            raise TrainingError(f"cannot average {other.name!r} with {first.name!r}: their weights differ in shape")
    averaged = keras.models.clone_model(first)
    averaged.set_weights([
        np.mean([np.asarray(w, dtype=np.float64) for w in group], axis=0).astype(np.asarray(group[0]).dtype)
        for group in zip(*(m.get_weights() for m in models))
    ])  # fmt: skip
    return averaged


def available_epochs(run_dir: str | Path) -> list[int]:
    """The epochs of a run (trained with ``--snapshots``) whose model was kept."""
    ckpt = Path(run_dir) / CHECKPOINT_DIR
    epochs = []
    for path in ckpt.glob("epoch-*.keras"):
        stem = path.stem.removeprefix("epoch-")
        if stem.isdigit() and path.name == snapshot_name(int(stem)):
            epochs.append(int(stem))
    return sorted(epochs)


def load_snapshots(run_dir: str | Path, epochs: Sequence[int]) -> list[Any]:
    """Load the kept models of ``epochs`` from a run.

    Raises:
        TrainingError: an epoch that was not kept (the message lists those that were).
    """
    import keras  # noqa: PLC0415

    ckpt = Path(run_dir) / CHECKPOINT_DIR
    kept = available_epochs(run_dir)
    missing = [e for e in epochs if e not in kept]
    if missing:
        have = ", ".join(map(str, kept)) if kept else "none (train with --snapshots to keep them)"
        raise TrainingError(f"{ckpt} has no model for epoch {', '.join(map(str, missing))}; kept epochs: {have}")
    models = []
    for epoch in epochs:
        try:
            register_layers()  # a model may equalise its faces first (core.layers)
            models.append(keras.saving.load_model(ckpt / snapshot_name(epoch), compile=False, safe_mode=True))
        except Exception as exc:  # Keras raises many types for a bad archive
            raise TrainingError(f"{ckpt / snapshot_name(epoch)} is unusable: {exc}") from exc
    return models


def average_run(
    run_dir: str | Path,
    epochs: Sequence[int],
    *,
    data: FERData | str | Path,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Average the kept models of ``epochs`` from a run, recalibrate, score on PublicTest and save.

    With one epoch nothing is averaged: that epoch's model gets its batch-norm statistics measured
    again on clean faces (what training now does to its best epoch; useful for older runs).

    The model directory in ``out_dir`` gets the run's metadata (architecture, recipe, data, history)
    plus ``averaged_epochs``, the PublicTest accuracy of the average and of each epoch alone.

    Returns:
        ``{"public_test_accuracy": ..., "epochs": {epoch: accuracy}, "model_dir": ...}``.

    Raises:
        TrainingError: no epochs, an epoch that was not kept, a run without metadata.
        DatasetError: unusable data.
    """
    epochs = sorted(set(int(e) for e in epochs))
    if not epochs:
        raise TrainingError("name at least one epoch (one alone: only its batch-norm statistics are measured again)")
    run = Path(run_dir)
    meta_path = run / METADATA_FILE
    try:
        run_meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{meta_path} is missing or unreadable: the run has not saved a model yet") from exc
    if not isinstance(data, FERData):
        data = load_fer2013(data)
    if data.sha256 != (run_meta.get("data") or {}).get("sha256"):
        raise TrainingError(f"{data.source} is not the data {run} was trained on (checksums differ)")
    models = load_snapshots(run, epochs)
    val = data["PublicTest"]
    alone = {epoch: accuracy(model, val.x, val.y) for epoch, model in zip(epochs, models)}
    averaged = average_models(models)
    recalibrate_batchnorm(averaged, data["Training"].x)
    score = accuracy(averaged, val.x, val.y)
    metadata = {
        key: value for key, value in run_meta.items()
        # Facts of the run's own saved model, not of the average: its files, batch-norm, TTA and uncertainty choices.
        if key not in ("model_file", "model_sha256", "batchnorm", "tta", "uncertainty") and not key.startswith("tflite_")
    }  # fmt: skip
    metadata.update(
        name=Path(out_dir).name,
        public_test_accuracy=score,
        best_epoch=None,
        averaged_epochs=epochs,
        averaged_public_test_accuracy={str(e): a for e, a in alone.items()},
        averaging={"method": "mean of weights", "batchnorm": f"recalibrated on Training ({len(data['Training'].x)} faces, un-augmented)"},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        terms_of_use=FER2013_TERMS,
    )
    save_model_dir(averaged, metadata, out_dir)
    return {"public_test_accuracy": score, "epochs": alone, "model_dir": str(out_dir)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.average", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the fer2013.csv(.gz) or pack the run was trained on")
    parser.add_argument("--run", required=True, help="a run trained with --snapshots (its --out directory)")
    parser.add_argument(
        "--epochs", type=int, nargs="+", required=True,
        help="the epochs to average; one alone is only recalibrated (its batch-norm statistics measured again)",
    )
    parser.add_argument("--out", required=True, help="model directory to write")
    args = parser.parse_args(argv)
    try:
        result = average_run(args.run, args.epochs, data=args.data, out_dir=args.out)
    except (ValueError, FERError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for epoch, alone_score in result["epochs"].items():
        print(f"epoch {epoch:>4}: PublicTest accuracy {alone_score:.4f}")
    print(f"average  : PublicTest accuracy {result['public_test_accuracy']:.4f}; model in {result['model_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
