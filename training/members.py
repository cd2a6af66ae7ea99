"""Take an ensemble's member networks back out of its model file, each into a model directory of its own.

    python -m training.members models/ensemble --out runs/members

An ensemble (:mod:`training.ensemble`) is one Keras model holding a copy of every member with
weight above 0, so the shipped ``models/ensemble`` is all that needs to be kept of its members:
this writes ``runs/members/fast``, ``runs/members/fast-ba9``, ... (the names its ``metadata.json``
gives them), each a served model directory (``.keras``, int8 ``.tflite``, ``metadata.json``) with
the member's exact weights, ready to be evaluated, adapted or combined into a new ensemble
(``python -m training.ensemble --members runs/members/fast runs/members/fast-ba9 ...``).

What the ensemble recorded about each member travels with it: its PublicTest accuracy, its
training facts (time, epochs, hardware) and the levers of its recipe; ``extracted`` says where it
came from. Its full training history stays in the original run, which the ensemble never held.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import FERError
from core.labels import FER2013_TERMS
from core.model_store import MODEL_NAME_PATTERN, load_model_dir, resolve_model_dir, save_model_dir
from training.config import TrainingError
from training.ensemble import member_layers, renamed_copy
from training.provenance import now

# Facts an ensemble keeps of a member's training (training.ensemble.member_training), put back at the
# top of the member's own metadata, where that function reads them again.
_TRAINED_KEYS: tuple[str, ...] = (
    "train_seconds", "epochs_run", "averaged_epochs", "train_size", "parameters", "precision", "hardware",
)  # fmt: skip


@dataclass(frozen=True)
class ExtractedMember:
    """One member written out: its folder, its index among the ensemble's candidates and its weight."""

    path: Path
    index: int
    weight: float | None
    public_test_accuracy: float | None


def folder_name(name: str) -> str:
    """A model folder name for a member recorded as ``name`` (``fast-ba9``, or ``run/checkpoint/epoch-007.keras``
    for a member made from a snapshot file): every other character a dash, within the model-name rule.
    """
    stem = name[: -len(".keras")] if name.endswith(".keras") else name
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "member"
    cleaned = cleaned[:48]
    return cleaned if re.match(MODEL_NAME_PATTERN, cleaned) else f"m{cleaned}"[:48]


def _member_metadata(
    described: dict[str, Any], *, name: str, index: int, ensemble: Path, ensemble_meta: dict[str, Any]
) -> dict[str, Any]:  # fmt: skip
    """The metadata of an extracted member, from what the ensemble recorded about it."""
    trained = dict(described.get("trained") or {})
    recipe = dict(trained.pop("recipe", None) or {})
    serve_jitter = bool(recipe.pop("serve_jitter", False))
    metadata: dict[str, Any] = {
        "name": name,
        "architecture": described.get("architecture"),
        "public_test_accuracy": described.get("public_test_accuracy"),
        **{key: trained[key] for key in _TRAINED_KEYS if key in trained},
        **({"config": recipe} if recipe else {}),
        **({"serve_jitter": True} if serve_jitter else {}),
        "data": ensemble_meta.get("data"),
        "extracted": {
            "ensemble": ensemble.name,
            "ensemble_sha256": ensemble_meta.get("model_sha256"),
            "member": index,
            "recorded_name": described.get("name"),
            "weight": described.get("weight"),
            # The checksum of the member's own .keras file when it joined (this copy's bytes differ).
            "model_sha256": described.get("model_sha256"),
        },
        "created": now(),
        "terms_of_use": ensemble_meta.get("terms_of_use") or FER2013_TERMS,
    }
    return {key: value for key, value in metadata.items() if value is not None}


def extract_members(ensemble: str | Path, *, out: str | Path, tflite: bool = True) -> list[ExtractedMember]:
    """Write every member of the ensemble model directory ``ensemble`` into ``out/NAME``.

    Args:
        ensemble: an ensemble's model directory (or its name under ``models/``).
        out: the folder for the members' directories (created if missing).
        tflite: also export each member's int8 ``.tflite`` file, as every model directory has.

    Returns:
        The members written, in the order of the ensemble's ``metadata["members"]``.

    Raises:
        TrainingError: ``ensemble`` is not an ensemble, its members do not match its metadata, or a
            member's folder already exists in ``out`` (nothing is written then).
        ModelLoadError: the ensemble cannot be loaded, or a member's folder cannot be written.
    """
    directory = resolve_model_dir(ensemble)
    model, metadata = load_model_dir(directory)
    if metadata.get("architecture") != "ensemble":
        raise TrainingError(
            f"{directory} is a {metadata.get('architecture') or 'single'} model, not an ensemble: it has no members"
        )
    nested = member_layers(model)
    described = [m for m in metadata.get("members") or [] if isinstance(m, dict)]
    if not nested or len(nested) != len(described):
        raise TrainingError(
            f"{directory} holds {len(nested)} member networks but its metadata describes {len(described)}"
        )
    names: list[str] = []
    for (_, own, _), entry in zip(nested, described):
        name = folder_name(str(entry.get("name") or own))
        while name in names:  # the same recorded name twice: number the later ones
            name = f"{name}-{len(names) + 1}"
        names.append(name)
    target = Path(out)
    taken = [name for name in names if (target / name).exists()]
    if taken:
        raise TrainingError(f"{target} already holds {', '.join(taken)}: choose another --out (nothing was written)")
    written = []
    for (index, own, layer), entry, name in zip(nested, described, names):
        member = renamed_copy(layer, own)
        save_model_dir(
            member,
            _member_metadata(entry, name=name, index=index, ensemble=directory, ensemble_meta=metadata),
            target / name,
            tflite=tflite,
        )
        written.append(
            ExtractedMember(target / name, index, _maybe_float(entry.get("weight")),
                            _maybe_float(entry.get("public_test_accuracy")))
        )  # fmt: skip
    return written


def _maybe_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.members", description=__doc__.split("\n\n")[0])
    parser.add_argument("ensemble", help="the ensemble's model directory (or its name under models/)")
    parser.add_argument("--out", required=True, help="folder to write one model directory per member into")
    parser.add_argument("--no-tflite", action="store_true", help="write the .keras files only (faster)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        members = extract_members(args.ensemble, out=args.out, tflite=not args.no_tflite)
    except FERError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for member in members:
        accuracy = f"PublicTest {member.public_test_accuracy:.4f}" if member.public_test_accuracy is not None else ""
        weight = f"weight {member.weight:.3f}" if member.weight is not None else ""
        print(f"member {member.index}: {member.path}  {weight}  {accuracy}".rstrip())
    print(f"{len(members)} members written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
