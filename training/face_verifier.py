"""Write the face verifier's network: MTCNN's O-Net from the ``mtcnn`` wheel, as an int8-weight ``.tflite``.

    python -m training.face_verifier [--out core/assets/mtcnn_onet/onet.tflite]

:mod:`core.verifier` gives the boxes a detector is not sure of a second look with MTCNN's last
stage (O-Net, 48x48 RGB), served by LiteRT so the app never imports TensorFlow for it. The
weights are those the ``mtcnn`` package ships (``mtcnn/assets/weights/onet.lz4``, MIT licence);
this builds the package's own Keras ``ONet``, loads them, keeps only the face/not-face output and
converts it with dynamic-range quantisation (int8 weights, float inputs and outputs), as
:mod:`core.tflite_export` does the emotion model: 0.12 ms a crop on one core instead of float32's
0.36, 0.4 MB instead of 1.55. On the 1310 boxes of ``benchmarks.false_faces`` at score 0.3 the face
probability moved by 5e-05 (median), 0.024 (99th percentile) and 0.067 at most; 2 boxes crossed the
photo threshold (0.2). The written file is checked against Keras on probe crops before it replaces
the old one. TensorFlow is imported here, so only this command needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.verifier import VERIFIER_FILE, VERIFIER_SIZE, FaceVerifier

# On random probe crops int8 weights move the face probability by about 5e-4; more means a broken conversion.
_TOLERANCE = 0.02


def onet_keras() -> Any:
    """The ``mtcnn`` package's O-Net with its shipped weights, as a Keras model ``(N, 48, 48, 3) -> (N, 2)``."""
    import tensorflow as tf  # noqa: PLC0415 - heavy, only for this command
    from mtcnn.network.onet import ONet  # noqa: PLC0415
    from mtcnn.utils.tensorflow import load_weights  # noqa: PLC0415

    network = ONet()
    network.build((None, VERIFIER_SIZE, VERIFIER_SIZE, 3))
    network.set_weights(load_weights("onet.lz4"))
    inputs = tf.keras.Input((VERIFIER_SIZE, VERIFIER_SIZE, 3))
    _boxes, _landmarks, probabilities = network(inputs)
    return tf.keras.Model(inputs, probabilities)


def export_onet(out: Path) -> dict[str, float]:
    """Convert O-Net, check it against Keras on probe crops, and write it to ``out`` atomically.

    Returns:
        ``{"bytes": ..., "max_difference": ...}`` of the written file.

    Raises:
        RuntimeError: the converted network's face probabilities differ from Keras's.
    """
    import tensorflow as tf  # noqa: PLC0415

    model = onet_keras()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights
    blob = converter.convert()
    probes = np.random.default_rng(36).uniform(-1.0, 1.0, (16, VERIFIER_SIZE, VERIFIER_SIZE, 3)).astype(np.float32)
    expected = np.asarray(model(probes))[:, 1]
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, suffix=".tflite.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(blob)
        os.chmod(temporary, 0o644)  # mkstemp's file is the owner's only
        got = FaceVerifier(model_path=temporary).network_probabilities(probes)
        difference = float(np.abs(got - expected).max())
        if difference > _TOLERANCE:
            raise RuntimeError(f"the converted O-Net differs from Keras by {difference:.2e} (allowed {_TOLERANCE:g})")
        os.replace(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return {"bytes": float(len(blob)), "max_difference": difference}


def main(argv: Sequence[str] | None = None) -> int:
    """Write the verifier's ``.tflite`` and say how big it is and how close to Keras."""
    parser = argparse.ArgumentParser(prog="python -m training.face_verifier", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=VERIFIER_FILE, help=f"where to write it (default {VERIFIER_FILE})")
    args = parser.parse_args(argv)
    facts = export_onet(args.out)
    print(f"wrote {args.out}: {facts['bytes'] / 1e6:.2f} MB, largest difference from Keras {facts['max_difference']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
