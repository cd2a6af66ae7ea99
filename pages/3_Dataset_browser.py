"""Dataset browser: FER2013's class balance per split, its faces page by page, and augmentation."""

from __future__ import annotations

import streamlit as st

from app import cache, charts, entry, ui
from app.dataset_view import GET_DATASET_HELP, class_indices, counts_by_split, paginate, upscale_faces
from core.errors import FERError
from core.labels import EMOTIONS

entry.through_entry(__file__)  # a page never runs without the app's entry (see app.entry)


st.title("Dataset browser")
location = ui.dataset_location_ui(key="dataset_path_browser")
if not location.found:
    st.info(GET_DATASET_HELP)
    if location.problem and ui.is_owner():
        st.caption(f"Not found: {location.problem}.")
    elif not ui.is_owner():
        st.caption("The owner of this app has not set up the dataset.")
    if location.source == "default" and ui.is_owner():
        st.caption("Looked in: " + ", ".join(f"`{p}`" for p in location.tried))
    st.stop()

try:
    data = cache.dataset(location.path)
except FERError as exc:
    st.error(f"Cannot read FER2013 at {ui.shown_path(location.path)}: {ui.dataset_problem(exc)}")
    st.stop()

sizes = ", ".join(f"{name} {len(split):,}" for name, split in data.splits.items())
st.caption(f"`{ui.shown_path(location.path)}` ({data.layout}, found via {location.source}): {sizes} faces.")
for note in data.notes:
    st.caption(note)
for split, absent in data.missing_classes().items():
    st.warning(f"{split} has no {', '.join(absent)} faces.")

st.subheader("Classes per split")
share = st.toggle("Show shares instead of counts", key="dataset_share")
counts = counts_by_split({name: split.class_counts() for name, split in data.splits.items()})
st.plotly_chart(charts.class_distribution(counts, share=share), key="dataset_distribution")

st.subheader("Faces")
split_column, class_column, size_column = st.columns(3)
split_name = split_column.selectbox("Split", list(data.splits), key="dataset_split")
emotion = class_column.selectbox("Class", ["all", *EMOTIONS], key="dataset_class")
per_page = size_column.select_slider("Faces per page", [24, 48, 96], value=48, key="dataset_per_page")
split = data[split_name]
chosen = class_indices(split.y, None if emotion == "all" else emotion)
if len(chosen) == 0:
    st.info(f"{split_name} has no {emotion} faces.")
    st.stop()
page_count = paginate(len(chosen), page=1, per_page=per_page).count
# No max_value: Streamlit would clamp a page past the end without a word; the page says so instead.
page_number = int(
    st.number_input(
        f"Page (of {page_count:,})", min_value=1, value=1, step=1, key=f"dataset_page_{split_name}_{emotion}_{per_page}"
    )
)
page = paginate(len(chosen), page=page_number, per_page=per_page)
if page_number > page.count:
    faces = f"{split_name}'s faces" if emotion == "all" else f"{split_name}'s {emotion} faces"
    st.warning(
        f"Page {page_number:,} is past the end: {faces} fill {page.count:,} page{'s' if page.count != 1 else ''} "
        f"of {per_page}; showing the last page."
    )
shown = chosen[page.start : page.stop]
st.image(
    upscale_faces(split.x[shown]),
    caption=[f"#{int(split.index[i])} {EMOTIONS[int(split.y[i])]}" for i in shown],
    width=96,
)
st.caption(f"Faces {page.start + 1:,}-{page.stop:,} of {page.total:,}; #n is the row in the source file.")

st.subheader("What training augmentation does")
st.caption(
    "Each training epoch sees a different random variant of every face, so the model learns the expression, "
    "not the pixels."
)
first_on_page = int(shown[0])
position = st.number_input(
    "Face (position in this split)", min_value=0, max_value=len(split) - 1, value=first_on_page, step=1,
    key=f"dataset_augment_face_{split_name}",
)  # fmt: skip
with st.expander("Augmentation settings", expanded=False):
    config = ui.augment_config_ui(key="dataset_augment")
try:
    variants = cache.augment_preview(str(location.path), split_name, int(position), config, 8, 0)
except FERError as exc:  # the preview runs Keras in a process of its own; it may fail without the page failing
    st.error(f"The augmentation preview could not be made: {exc}")
    st.stop()
original_column, variants_column = st.columns([1, 6])
original_column.image(upscale_faces(split.x[int(position) : int(position) + 1]), caption=["original"], width=96)
variants_column.image(upscale_faces(variants), caption=[f"variant {i + 1}" for i in range(len(variants))], width=96)
