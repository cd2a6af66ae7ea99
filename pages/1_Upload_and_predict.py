"""Upload photos, find every face and read its emotion; download the results.

Uploads are analysed in memory (``app.upload``); nothing is written to disk.
"""

from __future__ import annotations

import streamlit as st

from app import cache, entry, explain, ui
from app.limits import LimitError, current_limits, session_id
from app.upload import UPLOAD_TYPES, analyse_uploads, expand_uploads, results_csv, results_json, results_rows, tta_label
from core.detection import DETECTORS
from core.errors import ArchiveError
from core.pipeline import STILL_DETECTOR, default_min_score, model_tta
from core.readout import model_readout
from core.preprocess import TTA_MODES
from core.verifier import ALREADY_VERIFIED

entry.through_entry(__file__)  # a page never runs without the app's entry (see app.entry)

info = ui.current_model()

st.title("Upload and predict")
DETECTOR_HELP = {
    "yunet": "YuNet: fast, every face from small to large (default)",
    "haar": "Haar cascade: frontal faces",
    "mtcnn": "MTCNN: slower, finds turned and partly hidden faces",
    "blazeface": "BlazeFace: fast, finds tilted faces",
}
detector = st.radio(
    "Face detector",
    [STILL_DETECTOR, *(name for name in DETECTORS if name != STILL_DETECTOR)],
    format_func=lambda name: DETECTOR_HELP.get(name, name),
    horizontal=True,
    key="upload_detector",
)
chosen_tta = model_tta(info.metadata if info else None)
tta = st.radio(
    "Test-time augmentation",
    list(TTA_MODES),
    index=list(TTA_MODES).index(chosen_tta),
    format_func=lambda mode: tta_label(mode, chosen_tta),
    horizontal=True,
    key=f"upload_tta_{info.name if info else ''}",  # per model: each starts from its own choice
    help="Classify mirrored or shifted views of each face too, and average them: steadier answers for "
    "2 or 10 times the model work (still a few ms a face). The default is the mode that scored best "
    "on PublicTest for this model; the project's docs/accuracy.md gives the accuracy of each on PrivateTest.",
)
score_column, landmark_column = st.columns([3, 1])
small_faces = landmark_column.toggle(
    "Find small faces (slower)", value=False, key="upload_small_faces", disabled=detector != STILL_DETECTOR,
    help="YuNet also looks at a large photo at its own resolution, in tiles: faces down to about 20 px in a "
    "12-megapixel photo instead of about 35 px, for several times the time (seconds for a phone photo).",
)  # fmt: skip
own_score = default_min_score(detector)
min_score = score_column.slider(
    "Minimum face confidence",
    0.0, 1.0, own_score, 0.05,
    key=f"upload_min_score_{detector}",  # per detector: each starts from its own threshold
    help=f"Keep the faces the detector scores at least this (0 to 1); the detector itself applies it, as "
    f"--min-score does on the command line. It starts at this detector's own threshold ({own_score:g}): lower "
    "finds less sure faces (and more that are not faces), higher keeps only the surest.",
)  # fmt: skip
landmarks = landmark_column.toggle("Show face points", value=False, key="upload_landmarks",
                                   help="Eyes, nose and mouth corners, where the detector gives them (YuNet).")
verifiable = detector not in ALREADY_VERIFIED  # MTCNN's own last stage is the verifier's network
only_people = landmark_column.toggle(
    "Only people's faces", value=True, key="upload_verify", disabled=not verifiable,
    help="Boxes the detector is not sure of get a second look from a face verifier (MTCNN's O-Net, and for a "
    "face seen from the front MediaPipe's face mesh), which leaves out most animals, objects, patterns and "
    "patches of background (an animal's face, a monkey's most of all, can still pass). Off: every box the "
    "detector finds is read, a dog's face included. MTCNN looks at every box with O-Net already.",
)  # fmt: skip
verify = only_people or not verifiable  # MTCNN always has its own second look
show_dropped = landmark_column.toggle(
    "Show dropped boxes", value=False, key="upload_show_dropped", disabled=not verifiable,
    help="Boxes left out by YuNet's face checks or by the face verifier (an animal, an object, a face seen "
    "twice), in gray, with why.",
)  # fmt: skip
grouping = ui.grouping_ui(key="upload")
try:
    limits = current_limits()
except ValueError as exc:  # a bad [limits] entry in the secrets or a FER_LIMIT_* variable
    st.error(f"The app's limits are misconfigured: {exc}")
    st.stop()
files = st.file_uploader(
    f"Photos (JPEG, PNG, WebP, BMP, TIFF, GIF; up to {limits.files_per_upload} at a time, "
    f"{limits.photo_max_mb} MB each), or a ZIP of up to {limits.archive_photos} photos ({limits.archive_max_mb} MB)",
    type=[*UPLOAD_TYPES, "zip"],
    accept_multiple_files=True,
    key="upload_files",
    max_upload_size=min(max(limits.photo_max_mb, limits.archive_max_mb), int(st.get_option("server.maxUploadSize"))),
)
if not files:
    st.info("Upload one or more photos with faces. Each face gets a box, an emotion and a confidence.")
    st.stop()
try:
    photos, skipped = expand_uploads([(f.name, f.getvalue()) for f in files], limits=limits)
except (LimitError, ArchiveError) as exc:
    st.error(str(exc))
    st.stop()
if skipped:
    st.caption(f"Skipped in the ZIP ({len(skipped)}, not photos): " + ", ".join(m.name for m in skipped[:20]))

recognizer = ui.require_model(info)
readout = model_readout(recognizer, grouping)
use_small_faces = small_faces and detector == STILL_DETECTOR
with cache.heavy_work_gate().slot(session_id()) as admission:
    if not admission.granted:
        st.warning(admission.message)
        st.stop()
    with st.spinner(f"Analysing {len(photos)} image(s)..."):
        outcomes = analyse_uploads(
            photos, recognizer, limits=limits,
            detector=cache.photo_detector(detector, min_score, use_small_faces, verify=verify),
            tta=tta, min_score=min_score, landmarks=landmarks, rule=readout.rule,
            show_dropped=show_dropped and verifiable,
        )  # fmt: skip

if len(outcomes) > 1:
    ui.photos_summary_ui(outcomes, key="upload_summary")
for number, outcome in enumerate(outcomes):
    with st.container(border=True):
        st.subheader(outcome.name)
        ui.outcome_ui(outcome, key=f"upload_{number}", readout=readout, why=explain.upload_why(info, tta=tta))

st.subheader("Results")
st.caption(f"When the model is unsure it says so: {readout.rule.describe()}. The downloads keep every probability.")
rows = results_rows(outcomes, readout=readout)
if rows:
    st.dataframe(rows, hide_index=True, key="upload_table")
else:
    st.caption("No faces in these images.")
json_column, csv_column = st.columns(2)
json_column.download_button(
    "Results as JSON",
    results_json(
        outcomes, model=info.name if info else "", readout=readout,
        detector=f"{detector}{' (small faces)' if use_small_faces else ''}{'' if verify else ' (every box)'}",
    ),
    file_name="emotions.json",
    mime="application/json",
    key="upload_json",
    on_click="ignore",
)
csv_column.download_button(
    "Results as CSV",
    results_csv(outcomes, readout=readout),
    file_name="emotions.csv",
    mime="text/csv",
    key="upload_csv",
    on_click="ignore",
)
