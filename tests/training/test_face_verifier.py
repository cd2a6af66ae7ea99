"""``python -m training.face_verifier``: O-Net from the mtcnn wheel, converted, checked, and the shipped file's twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.verifier import VERIFIER_FILE, FaceVerifier, verifier_crop
from tests.core.faces import face_scene


def test_the_export_writes_the_network_the_app_ships(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from training.face_verifier import main  # noqa: PLC0415 - imports TensorFlow

    out = tmp_path / "assets" / "onet.tflite"
    assert main(["--out", str(out)]) == 0
    assert f"wrote {out}: 1.55 MB" in capsys.readouterr().out
    assert out.stat().st_mode & 0o444 == 0o444  # readable by the server's user, not mkstemp's 0600
    crops = np.stack([verifier_crop(face_scene(), (263, 153, 75, 99)), verifier_crop(face_scene(), (0, 0, 90, 90))])
    made, shipped = FaceVerifier(model_path=out), FaceVerifier(model_path=VERIFIER_FILE)
    np.testing.assert_allclose(made.network_probabilities(crops), shipped.network_probabilities(crops), atol=1e-6)
    assert list(tmp_path.joinpath("assets").iterdir()) == [out]  # no temporary file left behind
