"""Combine several trained models into one ensemble model, served as one model directory.

    python -m training.ensemble --data data/fer2013.csv.gz --members models/fast models/fast-s7 \\
        --out models/ensemble [--select greedy --max-members 4]

The ensemble is one Keras model: raw 48x48 pixels go to every member and the weighted mean of
their probabilities comes out, so the app, the CLI, the evaluator and the ``.tflite`` export treat
it as any other model. Only built-in Keras layers are used, so it loads in Keras safe mode.

Members are all weighted alike (``--select all``) or chosen by greedy forward selection with
replacement on PublicTest (``--select greedy``; Caruana et al., 2004, "Ensemble Selection from
Libraries of Models"), where a member picked twice counts twice. Everything is chosen on
PublicTest; PrivateTest is never read here, so ``training.evaluate`` can still report it fairly.
Unlike an average of weights (``training.average``), an ensemble costs the sum of its members at
serving time. Averaged probabilities come out too modest (each member's are softened by label
smoothing, and members disagree), so by default one temperature is fitted on PublicTest and built
into the model (``--no-calibrate`` leaves it out); the winning emotion of a face does not change.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FERError, ModelLoadError
from core.labels import FACE_SIZE, FER2013_TERMS, NUM_CLASSES
from core.layers import probability_temperature, register_layers
from core.model_store import load_model_dir, read_model_info, resolve_model_dir, save_model_dir, sha256_file
from training.batchnorm import BATCH_SIZE
from training.data import FERData, load_fer2013
from training.metrics import calibration
from training.config import TrainingError

SELECTIONS: tuple[str, ...] = ("all", "greedy")
_INPUT_SHAPE = (FACE_SIZE, FACE_SIZE, 1)


def normalise_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """Member weights that sum to 1: uniform for ``None``.

    Raises:
        ValueError: not one weight per member, a negative or non-finite weight, or a zero sum.
    """
    if n < 1:
        raise ValueError("an ensemble needs at least one member")
    if weights is None:
        return [1.0 / n] * n
    w = np.asarray(list(weights), dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"give one weight per member: {w.size} weights for {n} members")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"member weights must be finite and >= 0, not {w.tolist()}")
    total = float(w.sum())
    if total <= 0:
        raise ValueError("member weights must not all be zero")
    return [float(v) / total for v in w]


MEMBER_LAYER = re.compile(r"^member_(\d+)_(.+)$")
"""The name of a member nested in an ensemble: ``member_{index}_{its own Keras name}`` (see :func:`build_ensemble`)."""


def _layer_name(index: int, model_name: str) -> str:
    return f"member_{index}_{re.sub(r'[^A-Za-z0-9_]', '_', model_name) or 'model'}"


def member_layers(model: Any) -> list[tuple[int, str, Any]]:
    """The members nested in an ensemble model built by :func:`build_ensemble`, by index.

    Returns:
        ``(index, own name, nested model)`` for each member in the graph (a member of weight 0 is
        not), in the order of ``metadata["members"]``; ``index`` counts every candidate member.
    """
    import keras  # noqa: PLC0415

    found = []
    for layer in model.layers:
        match = MEMBER_LAYER.match(layer.name)
        if isinstance(layer, keras.Model) and match:
            found.append((int(match.group(1)), match.group(2), layer))
    return sorted(found, key=lambda item: item[0])


def _check_member(index: int, model: Any) -> None:
    try:
        in_shape, out_shape = model.input_shape, model.output_shape
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"member {index} ({getattr(model, 'name', model)!r}) is not a built Keras model") from exc
    if not isinstance(in_shape, tuple) or tuple(in_shape[1:]) != _INPUT_SHAPE:
        raise ValueError(f"member {index} ({model.name!r}) takes inputs of shape {in_shape}, not (None, 48, 48, 1)")
    if not isinstance(out_shape, tuple) or tuple(out_shape[1:]) != (NUM_CLASSES,):
        raise ValueError(f"member {index} ({model.name!r}) outputs {out_shape}, not {NUM_CLASSES} class probabilities")


def renamed_copy(model: Any, name: str) -> Any:
    """An independent copy of ``model`` (same weights) named ``name``; the caller's model is untouched."""
    import keras  # noqa: PLC0415

    config = keras.saving.serialize_keras_object(model)
    config = {**config, "config": {**config["config"], "name": name}}
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def build_ensemble(
    members: Sequence[Any], weights: Sequence[float] | None = None, *, name: str = "ensemble", temperature: float = 1.0
) -> Any:
    """One Keras model whose output is the weighted mean of the members' probabilities.

    Each member is a copy nested under a unique name (``member_0_fast``, ...). Members with weight
    0 are left out of the graph. The model takes raw pixels 0..255 of shape (48, 48, 1), as every
    member does, and outputs 7 probabilities.

    Args:
        members: ``keras.Model`` objects taking (48, 48, 1) and giving 7 probabilities.
        weights: one weight >= 0 per member, normalised to sum 1; ``None`` weighs all alike.
        name: the Keras name of the ensemble model.
        temperature: the mean is passed through ``core.layers``' ``ProbabilityTemperature`` with
            this temperature (see :func:`fit_temperature`); 1 leaves it as it is.

    Raises:
        ValueError: no members, a member of another shape, or unusable weights.
    """
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    members = list(members)
    if not members:
        raise ValueError("an ensemble needs at least one member")
    for index, model in enumerate(members):
        _check_member(index, model)
    normalised = normalise_weights(weights, len(members))
    kept = [(i, m, w) for i, (m, w) in enumerate(zip(members, normalised)) if w > 0]
    inputs = keras.Input(_INPUT_SHAPE, name="pixels")
    outputs = [renamed_copy(m, _layer_name(i, m.name))(inputs) for i, m, _ in kept]
    if len(outputs) == 1:
        probs = layers.Identity(name="probabilities")(outputs[0])
    elif len({w for _, _, w in kept}) == 1:
        probs = layers.Average(name="probabilities")(outputs)
    else:
        scaled = [layers.Rescaling(w, name=f"weight_{i}")(out) for (i, _, w), out in zip(kept, outputs)]
        probs = layers.Add(name="probabilities")(scaled)
    if temperature != 1.0:
        probs = probability_temperature(temperature, name="calibrated")(probs)
    return keras.Model(inputs, probs, name=name)


def temperature_scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)`` row by row, as the ``ProbabilityTemperature`` layer computes it."""
    logs = np.log(np.maximum(np.asarray(probs, dtype=np.float64), 1e-12)) / temperature
    logs -= logs.max(axis=1, keepdims=True)
    out = np.exp(logs)
    return out / out.sum(axis=1, keepdims=True)


def _nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray, *, bounds: tuple[float, float] = (0.2, 5.0)) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (temperature scaling).

    One number, fitted on held-out faces (PublicTest here): below 1 sharpens modest probabilities,
    above 1 softens overconfident ones; the winning emotion of each face stays the same.
    """
    from scipy.optimize import minimize_scalar  # noqa: PLC0415

    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(labels) or not len(labels):
        raise ValueError(f"need (N, C) probabilities with N labels, got {probs.shape} and {labels.shape}")
    low, high = np.log(bounds[0]), np.log(bounds[1])
    result = minimize_scalar(
        lambda log_t: _nll(temperature_scaled(probs, float(np.exp(log_t))), labels),
        bounds=(low, high), method="bounded", options={"xatol": 1e-4},
    )  # fmt: skip
    return round(float(np.exp(result.x)), 4)


def greedy_selection(member_probs: Sequence[np.ndarray], labels: np.ndarray, *, max_size: int) -> list[int]:
    """Forward selection with replacement (Caruana et al., 2004) on one split's probabilities.

    Starts with the most accurate member, then adds whichever member (again or new) most improves
    the accuracy of the mean of the chosen members' probabilities; stops when no addition improves
    it or ``max_size`` picks are made. Ties go to the lowest index.

    Returns:
        The picked member indices in the order picked; repeats are allowed, so a member's weight
        is how often it appears.

    Raises:
        ValueError: no members, probabilities of different shapes, labels that do not match, or
        ``max_size`` < 1.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    if not member_probs:
        raise ValueError("greedy selection needs at least one member")
    probs = [np.asarray(p, dtype=np.float64) for p in member_probs]
    y = np.asarray(labels)
    for index, p in enumerate(probs):
        if p.ndim != 2 or p.shape[0] != y.shape[0] or p.shape != probs[0].shape:
            raise ValueError(
                f"member {index}'s probabilities have shape {p.shape}; want ({y.shape[0]}, classes) for all"
            )

    def accuracy(total: np.ndarray) -> float:  # argmax of a sum is argmax of the mean
        return float(np.mean(np.argmax(total, axis=1) == y))

    singles = [accuracy(p) for p in probs]
    chosen = [int(np.argmax(singles))]  # np.argmax: the first of equal maxima
    total = probs[chosen[0]].copy()
    score = singles[chosen[0]]
    while len(chosen) < max_size:
        scores = [accuracy(total + p) for p in probs]
        best = int(np.argmax(scores))
        if scores[best] <= score:
            break
        chosen.append(best)
        total += probs[best]
        score = scores[best]
    return chosen


@dataclass(frozen=True)
class Member:
    """A candidate member as loaded: its model and what is recorded about it."""

    model: Any
    name: str  # a model directory's name, or run/checkpoint/FILE for a .keras file: never an absolute path
    architecture: str | None
    model_sha256: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    """The member's own ``metadata.json`` (empty for a bare ``.keras`` file)."""


# What an ensemble keeps of each member's training, so its model card can say how it was made.
_TRAINED_KEYS: tuple[str, ...] = (
    "train_seconds", "epochs_run", "averaged_epochs", "train_size", "parameters", "precision", "hardware",
)  # fmt: skip
_RECIPE_KEYS: tuple[str, ...] = ("seed", "teacher", "ferplus", "ferplus_blend", "photometric", "equalize", "init")


def member_training(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """How a member was trained, from its metadata: time, epochs, hardware and the recipe's levers."""
    out = {key: metadata[key] for key in _TRAINED_KEYS if metadata.get(key) is not None}
    config = metadata.get("config") or {}
    recipe = {key: config[key] for key in _RECIPE_KEYS if config.get(key) not in (None, False, 0, 0.0, "")}
    if metadata.get("serve_jitter"):
        recipe["serve_jitter"] = True
    if recipe:
        out["recipe"] = recipe
    return out


def ensemble_training(members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ensemble's own training facts: the members' time and parameters added up, their hardware if shared."""
    trained = [m.get("trained") or {} for m in members]
    out: dict[str, Any] = {}
    for key in ("train_seconds", "parameters"):
        values = [t.get(key) for t in trained]
        if values and all(isinstance(v, (int, float)) for v in values):
            out[key] = sum(values)
    hardware = [t.get("hardware") for t in trained]
    if hardware and hardware[0] and all(h == hardware[0] for h in hardware):
        out["hardware"] = hardware[0]
    return out


def load_member(spec: str | Path) -> Member:
    """A member from a model directory (or a name under ``models/``) or a served-model ``.keras`` file.

    Raises:
        ModelLoadError: the directory or file is missing or unusable.
    """
    path = Path(spec)
    if path.suffix == ".keras":
        return _load_keras_file(path)
    directory = resolve_model_dir(spec)
    if not directory.is_dir():
        raise ModelLoadError(f"member {str(spec)!r} is not a model directory")
    model, metadata = load_model_dir(directory)
    return Member(
        model, directory.name, metadata.get("architecture") or model.name, metadata.get("model_sha256"), metadata
    )


def _load_keras_file(path: Path) -> Member:
    import json  # noqa: PLC0415

    import keras  # noqa: PLC0415

    if not path.is_file():
        raise ModelLoadError(f"member {path.name!r} is not a file")
    try:
        register_layers()  # a model may equalise its faces first (core.layers)
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad archive
        raise ModelLoadError(f"member {path.name!r} failed to load: {exc}") from exc
    try:
        _check_member(0, model)
    except ValueError as exc:
        raise ModelLoadError(f"member {path.name!r} is not a served emotion model: {exc}") from exc
    # runs/NAME/checkpoint/epoch-007.keras is recorded as NAME/checkpoint/epoch-007.keras.
    run = path.parent.parent if path.parent.name == "checkpoint" else path.parent
    architecture = model.name
    try:
        architecture = json.loads((run / "metadata.json").read_text()).get("architecture") or architecture
    except (OSError, ValueError, AttributeError):
        pass
    name = path.relative_to(run.parent).as_posix() if run.name else path.name
    return Member(model, name, architecture, sha256_file(path))


def predict_probs(model: Any, images: np.ndarray, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """A model's probabilities on raw faces (pixels 0..255), in inference mode, without TTA."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def ensemble_models(
    member_specs: Sequence[str | Path],
    *,
    data: FERData | str | Path,
    out_dir: str | Path,
    select: str = "all",
    max_members: int | None = None,
    calibrate: bool = True,
) -> dict[str, Any]:
    """Load the members, score them on PublicTest, build the ensemble, score it and save it.

    Args:
        member_specs: model directories (or names under ``models/``) or served-model ``.keras`` files.
        select: ``"all"`` (uniform) or ``"greedy"`` (:func:`greedy_selection` on PublicTest).
        max_members: with ``"greedy"``, the most picks (repeats count); default the number of members.
        calibrate: fit a temperature on PublicTest (:func:`fit_temperature`) and build it in, so the
            ensemble's confidence means what it says; recorded under ``calibration``.

    Returns:
        ``{"public_test_accuracy": ..., "candidates": [every member with its accuracy and weight],
        "model_dir": ...}``; what is saved is in the model directory's metadata.

    Raises:
        TrainingError: fewer than two members, the same model twice, a bad selection.
        ModelLoadError: a member that cannot be used. DatasetError: unusable data or no PublicTest.
    """
    specs = list(member_specs)
    if len(specs) < 2:
        raise TrainingError(f"an ensemble needs at least 2 members, {len(specs)} given")
    if select not in SELECTIONS:
        raise TrainingError(f"selection must be one of {SELECTIONS}, not {select!r}")
    if max_members is not None and select != "greedy":
        raise TrainingError("max_members applies to greedy selection only")
    if max_members is not None and max_members < 1:
        raise TrainingError(f"max_members must be at least 1, not {max_members}")
    if not isinstance(data, FERData):
        data = load_fer2013(data)
    val = data["PublicTest"]  # a DatasetError naming the splits there are, when it is absent
    if not len(val):
        raise TrainingError(f"{Path(data.source).name} has no PublicTest faces to score the members on")
    members = [load_member(spec) for spec in specs]
    seen: dict[str, str] = {}
    for member in members:
        if member.model_sha256 and member.model_sha256 in seen:
            raise TrainingError(f"members {seen[member.model_sha256]!r} and {member.name!r} are the same model")
        if member.model_sha256:
            seen[member.model_sha256] = member.name
    probs = [predict_probs(m.model, val.x) for m in members]
    alone = [_accuracy(p, val.y) for p in probs]
    if select == "greedy":
        picks = greedy_selection(probs, val.y, max_size=max_members or len(members))
        counts = np.bincount(picks, minlength=len(members)).astype(float)
    else:
        picks = list(range(len(members)))
        counts = np.ones(len(members))
    weights = normalise_weights(counts.tolist(), len(members))
    mean = sum(w * p for w, p in zip(weights, probs))
    temperature = fit_temperature(mean, val.y) if calibrate else 1.0
    model = build_ensemble([m.model for m in members], weights, name="ensemble", temperature=temperature)
    served = predict_probs(model, val.x)
    score = _accuracy(served, val.y)
    described = [
        {"name": m.name, "model_sha256": m.model_sha256, "architecture": m.architecture,
         "public_test_accuracy": a, "weight": w, **({"trained": t} if (t := member_training(m.metadata)) else {})}
        for m, a, w in zip(members, alone, weights)
    ]  # fmt: skip
    kept = [d for d in described if d["weight"] > 0]
    metadata = {
        "name": Path(out_dir).name,
        "architecture": "ensemble",
        "members": kept,
        **ensemble_training(kept),
        "left_out": [{k: v for k, v in d.items() if k != "weight"} for d in described if d["weight"] == 0],
        "public_test_accuracy": score,
        "selection": {
            "method": select,
            "split": "PublicTest",
            **({"max_members": max_members or len(members), "picks": [members[i].name for i in picks]}
               if select == "greedy" else {}),
        },  # fmt: skip
        "data": {
            "source": Path(data.source).name, "layout": data.layout, "sha256": data.sha256, "notes": list(data.notes),
        },
        **({"calibration": _calibration_record(mean, served, val.y, temperature)} if calibrate else {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "terms_of_use": FER2013_TERMS,
    }
    save_model_dir(model, metadata, out_dir)
    tflite_error = read_model_info(out_dir).metadata.get("tflite_error")
    return {
        "public_test_accuracy": score, "candidates": described, "model_dir": str(out_dir), "tflite_error": tflite_error,
        "calibration": metadata.get("calibration"),
    }


def _calibration_record(before: np.ndarray, after: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, Any]:
    """What temperature scaling did on PublicTest: the temperature, and the ECE and NLL before and after."""

    def ece(probs: np.ndarray) -> float:
        return float(calibration(probs.max(axis=1), probs.argmax(axis=1) == labels)["ece"])

    return {
        "method": "temperature", "split": "PublicTest", "temperature": temperature,
        "ece_before": ece(before), "ece_after": ece(after), "nll_before": _nll(before, labels), "nll_after": _nll(after, labels),
    }  # fmt: skip


def format_table(result: dict[str, Any]) -> str:
    """Member and ensemble PublicTest accuracy, for the terminal."""
    rows = result["candidates"]
    width = max([len("ensemble"), *(len(r["name"]) for r in rows)])
    lines = [f"{'model':<{width}}  {'PublicTest':>10}  {'weight':>6}"]
    lines += [f"{r['name']:<{width}}  {r['public_test_accuracy']:>10.4f}  {r['weight']:>6.3f}" for r in rows]
    lines.append(f"{'ensemble':<{width}}  {result['public_test_accuracy']:>10.4f}  {'':>6}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ensemble", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--members", nargs="+", required=True, metavar="DIR",
        help="two or more model directories (or names under models/, or served-model .keras files)",
    )
    parser.add_argument("--data", required=True, help="fer2013.csv(.gz) with a PublicTest split, to score and choose")
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument(
        "--select", choices=SELECTIONS, default="all",
        help="all (default): every member, weighted alike; greedy: forward selection with replacement on PublicTest",
    )
    parser.add_argument(
        "--max-members", type=int, metavar="N",
        help="with --select greedy: the most picks (repeats count); default the number of members",
    )
    parser.add_argument(
        "--no-calibrate", action="store_true",
        help="keep the averaged probabilities as they are (default: a temperature fitted on PublicTest)",
    )
    args = parser.parse_args(argv)
    try:
        result = ensemble_models(
            args.members, data=args.data, out_dir=args.out, select=args.select, max_members=args.max_members,
            calibrate=not args.no_calibrate,
        )
    except (ValueError, FERError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if result["calibration"]:
        c = result["calibration"]
        print(f"temperature {c['temperature']:.3f} (PublicTest): ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}, "
              f"NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}")  # fmt: skip
    print(f"model in {result['model_dir']}")
    if result["tflite_error"]:
        print(f"warning: saved without a .tflite file: {result['tflite_error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
