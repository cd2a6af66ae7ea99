"""Small UI pieces shared by the pages: the model selector, the dataset finder, augmentation widgets.

Each ``*_ui`` function draws widgets and returns what the user chose; computing stays in ``core``
and the rest of ``app``.
"""

from __future__ import annotations

# aiortc's SRTP binding segfaults when it is loaded after TensorFlow (TensorFlow's BoringSSL
# symbols clash with the OpenSSL that libsrtp uses). Any page may load the model before the user
# opens the webcam page, so every page loads the binding first; it takes about 20 ms.
import pylibsrtp  # noqa: F401  isort: skip

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from app import cache
from app.dataset_view import DatasetLocation, locate_dataset
from core.model_store import ROLES, ROLES_FILE, ModelInfo, ModelRoles
from training.progress import format_seconds  # noqa: F401 - the pages format times through ui

if TYPE_CHECKING:
    from collections.abc import Sequence

    from streamlit.delta_generator import DeltaGenerator

    from app.identity import Identity
    from app.upload import UploadOutcome
    from core.groups import Grouping
    from core.readout import Readout
    from core.video import Timeline
    from core.recognizer import EmotionRecognizer
    from training.augment import AugmentConfig

MODEL_STATE_KEY = "model_name"
AUTOMATIC = ""
"""The selector's first choice: each page uses the model of its role (:func:`core.model_store.model_roles`)."""
OWNER_ONLY_MESSAGE = (
    "This page is for the app's owner. Visitors can analyse photos, videos and the webcam, browse the "
    "dataset and read the evaluations. Owner? Sign in from the sidebar, or run the app on your own machine."
)
DATASET_PATH_KEY = "dataset_path"


def secrets() -> Mapping[str, Any]:
    """The app's secrets, or an empty mapping when there is no ``secrets.toml``."""
    try:
        return dict(st.secrets)
    except Exception:  # Streamlit raises its own "no secrets file" error types, which vary by version
        return {}


def identity() -> Identity:
    """Who is using the app in this session (see :mod:`app.identity`): visitor unless proven owner."""
    from app.identity import current_identity  # noqa: PLC0415

    return current_identity()


def is_owner(who: Identity | None = None) -> bool:
    """Whether ``who`` (by default the current session's person) is the app's owner."""
    return (identity() if who is None else who).is_owner


def identity_sidebar(who: Identity) -> None:
    """Who you are, in the sidebar; a sign-in or sign-out button where sign-in (``[auth]``) is set up."""
    with st.sidebar:
        st.caption(f":material/person: {who.label}")
        if who.email:
            st.button("Sign out", key="sidebar_logout", on_click=st.logout)
        elif secrets().get("auth"):
            st.button("Owner sign-in", key="sidebar_login", on_click=st.login)


def require_owner() -> None:
    """Stop the page with a refusal unless the current person is the owner (for pages reached by URL)."""
    if not is_owner():
        st.error(OWNER_ONLY_MESSAGE, icon=":material/lock:")
        st.stop()


def shown_path(path: Path | str | None) -> str:
    """A server path as this person may see it: whole for the owner, the file name for a visitor."""
    if path is None:
        return ""
    return str(path) if is_owner() else Path(path).name


def dataset_problem(exc: Exception) -> str:
    """What went wrong reading the dataset, as this person may see it: a visitor gets no server path."""
    if is_owner():
        return str(exc)
    return "the dataset the owner configured cannot be read; the owner can see why on this page"


def model_label(info: ModelInfo, roles: ModelRoles | None = None) -> str:
    """Selector text of a model: its name and accuracy, and the roles it plays under Automatic."""
    if info.accuracy is None:
        text = f"{info.name} (not evaluated)"
    else:
        text = f"{info.name}: {info.accuracy:.1%} {(info.evaluation or {}).get('split', 'test')}"
    played = roles.roles_of(info.name) if roles is not None else ()
    return text + (f" · {role_words(played)}" if played else "")


def role_words(roles: Sequence[str]) -> str:
    """``("default", "live")`` -> ``"photos and video, the webcam"``."""
    return ", ".join(ROLES[role] for role in roles)


def automatic_label(roles: ModelRoles) -> str:
    """The Automatic choice, short enough for the sidebar's selector: ``"Automatic (ensemble, fast)"``."""
    if roles.default == roles.live:
        return f"Automatic ({roles.default})"
    return f"Automatic ({roles.default}, {roles.live})"


def roles_caption(roles: ModelRoles) -> str:
    """Under the selector on Automatic, which model serves what, in full (the selector cuts long text)."""
    if roles.default == roles.live:
        return f"**{roles.default}** reads everything."
    return f"**{roles.default}** reads {ROLES['default']}; **{roles.live}** reads {ROLES['live']}."


def _remember_model() -> None:
    st.session_state[MODEL_STATE_KEY] = st.session_state["sidebar_model"]


def _models() -> tuple[list[ModelInfo], list[ModelInfo], ModelRoles]:
    """``(usable, broken, roles)`` of the models folder, and the choice kept valid in session state."""
    models = cache.available_models()
    usable = [m for m in models if m.ok]
    names = [m.name for m in usable]
    if st.session_state.get(MODEL_STATE_KEY) not in (AUTOMATIC, *names):
        st.session_state[MODEL_STATE_KEY] = AUTOMATIC
    return usable, [m for m in models if not m.ok], cache.model_roles(names)


def current_model(role: str = "default") -> ModelInfo | None:
    """The model for this page's ``role`` (see :data:`core.model_store.ROLES`): the one picked in the
    sidebar (``Home.py`` draws it on every page), or under Automatic the role's own; ``None`` when none
    is usable.

    Raises:
        ValueError: an unknown role (checked by :meth:`core.model_store.ModelRoles.of`).
    """
    usable, _, roles = _models()
    by_name = {m.name: m for m in usable}
    own = roles.of(role)
    choice = st.session_state.get(MODEL_STATE_KEY, AUTOMATIC)
    return by_name.get(own if choice == AUTOMATIC else choice)


def automatic_models() -> bool:
    """Whether the sidebar is on Automatic (each page uses its role's model)."""
    return st.session_state.get(MODEL_STATE_KEY, AUTOMATIC) == AUTOMATIC


def model_sidebar() -> ModelInfo | None:
    """The sidebar model selector shared by all pages; returns the chosen usable model or ``None``.

    Every model in the models folder is listed; broken ones are shown with their error and
    cannot be chosen. The choice survives page switches (kept outside the widget's own state).
    """
    usable, broken, roles = _models()
    with st.sidebar:
        st.subheader("Model")
        if not usable:
            st.warning("No usable model in the models folder. Train one on the Training page.")
            chosen = None
        else:
            options = [AUTOMATIC, *(m.name for m in usable)]
            by_name = {m.name: m for m in usable}
            st.selectbox(
                "Emotion model",
                options,
                index=options.index(st.session_state[MODEL_STATE_KEY]),
                format_func=lambda name: automatic_label(roles) if name == AUTOMATIC else model_label(by_name[name], roles),
                key="sidebar_model",
                on_change=_remember_model,
                help="Automatic: the default model reads photos, videos and snapshots, the live model the webcam "
                f"(the models folder's {ROLES_FILE} says which is which). Pick a model to use it everywhere. "
                "Each model's accuracy comes from its evaluation.json.",
            )  # fmt: skip
            chosen = current_model()
            if automatic_models():
                st.caption(roles_caption(roles))
            elif chosen is not None:
                st.caption(f"**{chosen.name}** reads everything: photos, video and the webcam.")
            if roles.problem:
                st.caption(f"⚠ {roles.problem}.")
        if broken and is_owner():  # a visitor needs no list of the server's unusable folders
            with st.expander(f"{len(broken)} model(s) skipped", expanded=False):
                for info in broken:
                    st.caption(f"**{info.name}**: {info.error}")
    return chosen


def require_model(info: ModelInfo | None) -> EmotionRecognizer:
    """The loaded recognizer of ``info``; stops the page with a message when there is none."""
    from core.errors import FERError  # noqa: PLC0415

    if info is None:
        st.info("There is no usable model yet: train one on the Training page, or copy a model into `models/`.")
        st.stop()
    try:
        return cache.recognizer(info)
    except FERError as exc:  # ModelLoadError and the other domain errors carry a message for the user
        st.error(f"Model {info.name!r} cannot be used: {exc}")
        st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def _remember_path(widget_key: str) -> None:
    st.session_state[DATASET_PATH_KEY] = st.session_state[widget_key]


def dataset_location_ui(*, key: str, label: str = "FER2013 location") -> DatasetLocation:
    """A path box (empty: automatic) and where FER2013 was found; the typed path is shared by all pages.

    Only the owner gets the box: a visitor uses the dataset the owner configured, and never names a
    file on the server.
    """
    if not is_owner():
        return current_dataset_location()
    if DATASET_PATH_KEY not in st.session_state:
        st.session_state[DATASET_PATH_KEY] = ""
    typed = st.text_input(
        label,
        value=st.session_state[DATASET_PATH_KEY],
        key=key,
        on_change=_remember_path,
        args=(key,),
        placeholder="automatic: FER2013_PATH, secrets or data/",
        help="fer2013.csv, fer2013.csv.gz, or a folder with train/ and test/ class folders.",
    )
    return current_dataset_location(typed=typed)


def current_dataset_location(*, typed: str | None = None) -> DatasetLocation:
    """Where FER2013 is, from a typed path (the owner's only), ``FER2013_PATH``, the secrets or ``data/``."""
    if not is_owner():
        typed = None
    elif typed is None:
        typed = st.session_state.get(DATASET_PATH_KEY) or None
    secret = secrets().get("fer2013_path")
    return locate_dataset(typed=typed, env=os.environ.get("FER2013_PATH"), secret=str(secret) if secret else None)


def augment_config_ui(*, key: str) -> AugmentConfig:
    """Widgets for each training augmentation; returns the :class:`AugmentConfig` they describe."""
    from training.augment import AugmentConfig  # noqa: PLC0415 - a dataclass; Keras stays unloaded

    defaults = AugmentConfig()
    left, right = st.columns(2)
    with left:
        flip = st.checkbox("Mirror left-right", value=defaults.horizontal_flip, key=f"{key}_flip")
        rotation = st.slider("Rotation (degrees)", 0.0, 30.0, float(defaults.rotation_degrees), 1.0, key=f"{key}_rot")
        zoom = st.slider("Zoom (fraction)", 0.0, 0.3, float(defaults.zoom), 0.01, key=f"{key}_zoom")
        shift = st.slider("Shift (fraction)", 0.0, 0.3, float(defaults.shift), 0.01, key=f"{key}_shift")
    with right:
        brightness = st.slider("Brightness (fraction)", 0.0, 0.5, float(defaults.brightness), 0.01, key=f"{key}_bright")
        contrast = st.slider("Contrast (fraction)", 0.0, 0.5, float(defaults.contrast), 0.01, key=f"{key}_contrast")
        erasing = st.slider("Random erasing (probability)", 0.0, 1.0, float(defaults.erasing), 0.05, key=f"{key}_erase")
    return AugmentConfig(
        rotation_degrees=rotation, zoom=zoom, shift=shift, horizontal_flip=flip,
        erasing=erasing, brightness=brightness, contrast=contrast,
    )  # fmt: skip


def timeline_ui(timeline: Timeline, *, key: str, empty_message: str, grouping: Grouping | None = None) -> None:
    """A face timeline: a probability chart per face, the summary per face and its segments.

    Shared by the Video page and the webcam recording, so both read the same way.

    Args:
        timeline: a video analysis or a webcam recording.
        key: prefix of the widget keys.
        empty_message: the warning shown when no face was seen.
        grouping: chart, summarise and segment by the groups instead of the seven emotions.
    """
    from app import charts  # noqa: PLC0415
    from app.video import segment_rows, summary_rows  # noqa: PLC0415
    from core.labels import EMOTIONS  # noqa: PLC0415

    figures = charts.video_timeline(timeline, grouping=grouping)
    if not figures:
        st.warning(empty_message)
    for face, figure in figures.items():
        st.plotly_chart(figure, key=f"{key}_timeline_{face}")
    if timeline.summary:
        st.subheader("Summary" if grouping is None else "Summary by group")
        names = EMOTIONS if grouping is None else grouping.names
        shares = {name: st.column_config.NumberColumn(name, format="percent") for name in names}
        table = summary_rows(timeline, grouping)
        st.dataframe(table, hide_index=True, column_config=shares, key=f"{key}_summary")
        what = "emotion" if grouping is None else "group"
        with st.expander(f"Segments (where the dominant {what} changes)"):
            st.dataframe(segment_rows(timeline, grouping), hide_index=True, key=f"{key}_segments")


def timeline_downloads(timeline: Timeline, *, key: str, stem: str, readout: Readout | None = None) -> DeltaGenerator:
    """"Timeline as CSV" and "Timeline as JSON" buttons side by side; returns a third column for more.

    The files are made when a button is pressed, not on every rerun (a long timeline is megabytes);
    ``readout`` adds its groups to them.
    """
    from app.video import timeline_json  # noqa: PLC0415
    from core.video import timeline_csv  # noqa: PLC0415

    csv_column, json_column, more = st.columns(3)
    csv_column.download_button("Timeline as CSV", lambda: timeline_csv(timeline, readout=readout), file_name=f"{stem}.timeline.csv",
                               mime="text/csv", key=f"{key}_csv", on_click="ignore")
    json_column.download_button("Timeline as JSON", lambda: timeline_json(timeline, readout=readout), file_name=f"{stem}.timeline.json",
                                mime="application/json", key=f"{key}_json", on_click="ignore")
    return more


def photos_summary_ui(outcomes: Sequence[UploadOutcome], *, key: str) -> None:
    """Several analysed photos at a glance: faces per emotion across them all, and each photo's faces.

    Args:
        outcomes: one per photo.
        key: prefix of the widget keys.
    """
    from app import charts  # noqa: PLC0415
    from app.upload import emotion_counts, photo_rows  # noqa: PLC0415

    st.subheader("Summary")
    chart_column, table_column = st.columns([2, 3])
    chart_column.plotly_chart(charts.faces_per_emotion(emotion_counts(outcomes), photos=len(outcomes)),
                              key=f"{key}_emotions")
    table_column.dataframe(photo_rows(outcomes), hide_index=True, key=f"{key}_photos")
    st.caption("The downloads at the bottom of the page hold every face of every photo.")


def grouping_ui(*, key: str) -> Grouping | None:
    """A "Grouped view" toggle and, when on, the groups (the default, or typed); ``None`` when off.

    Groups a person types wrongly get an error that says what is allowed, and the seven emotions are shown.
    """
    from core.groups import DEFAULT_GROUPING, parse_groups  # noqa: PLC0415

    if not st.toggle(
        "Grouped view", value=False, key=f"{key}_grouped",
        help="Sum the seven probabilities into coarser groups; a face's group is the most probable group.",
    ):  # fmt: skip
        return None
    spec = st.text_input(
        "Groups", value=DEFAULT_GROUPING.spec(), key=f"{key}_groups",
        help="NAME=EMOTION+EMOTION, separated by commas; every emotion in exactly one group. The default: "
        "positive = happy; negative = angry, disgust, fear, sad; neutral; surprise.",
    )  # fmt: skip
    try:
        return parse_groups(spec)
    except ValueError as exc:
        st.error(f"Groups: {exc}. Showing the seven emotions.")
        return None


def face_said(face: Any, readout: Readout) -> str:
    """``sad or neutral (38%)``, with ``; negative 71%`` when grouped: what the model says of a face."""
    said = readout.face_dict(face.probabilities)
    text = f"{said['label']} ({face.confidence:.0%})"
    if readout.grouping is not None:
        text += f"; {said['group']} {said['group_probabilities'][said['group']]:.0%}"
    return text


def outcome_ui(
    outcome: Any, *, key: str, download: bool = True, readout: Readout | None = None,
    why: Callable[[Any, int, str], None] | None = None,
) -> None:
    """One analysed image: the annotated picture, a probability chart per face, a PNG download.

    Args:
        outcome: a :class:`app.upload.UploadOutcome`.
        key: prefix of this block's widget keys (unique per image on the page).
        download: offer the annotated PNG.
        readout: the model's uncertainty rule for the titles and, with a grouping, grouped charts.
        why: draws a face's "Why?" view (``why(outcome, face number, key)``, e.g.
            :func:`app.explain.upload_why`); each face then gets a "Why?" toggle under its chart.
    """
    from app import charts  # noqa: PLC0415
    from app.explain import WHY_HELP  # noqa: PLC0415
    from app.upload import NO_FACE_HINT, annotated_name, encode_png  # noqa: PLC0415
    from core.readout import Readout  # noqa: PLC0415

    readout = readout or Readout()

    if not outcome.ok:
        st.error(f"Cannot read {outcome.name}: {outcome.error}")
        return
    dropped = getattr(outcome, "dropped", ())
    if dropped:
        st.caption("Left out by the face checks or the face verifier (gray boxes): " + "; ".join(
            f"{d.rule} ({d.detection.score:.2f}): {d.reason}" for d in dropped
        ))  # fmt: skip
    if not outcome.faces:
        st.warning(NO_FACE_HINT)
        st.image(outcome.annotated_bgr if dropped else outcome.image_bgr, channels="BGR", width=480)
        return
    picture, chart_column = st.columns([3, 2])
    with picture:
        st.image(outcome.annotated_bgr, channels="BGR", caption=f"{len(outcome.faces)} face(s)")
        if download:
            st.download_button(
                "Annotated PNG",
                lambda: encode_png(outcome.annotated_bgr),  # encoded on a click, not on every rerun
                file_name=annotated_name(outcome.name),
                mime="image/png",
                key=f"{key}_png",
                on_click="ignore",
            )
    with chart_column:
        for index, face in enumerate(outcome.faces, start=1):
            figure = charts.probability_bar(
                face.probabilities, title=f"Face {index}: {face_said(face, readout)}", grouping=readout.grouping
            )
            st.plotly_chart(figure, key=f"{key}_chart_{index}")
            if why is not None and st.toggle("Why?", key=f"{key}_why_{index}", help=WHY_HELP):
                why(outcome, index, f"{key}_why_{index}")


def format_milliseconds(ms: float) -> str:
    """``85 ms`` below a second, ``1.4 s`` above."""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def stop_and_cancel_buttons(job: Any, *, key: str, what: str, step: str, stop_disabled: bool = False) -> None:
    """A running job's two buttons: stop gracefully (the best epoch so far is kept) and cancel (nothing kept).

    Args:
        job: an :class:`app.jobs.ProcessJob` with ``stop_early()``.
        key: the widget keys' prefix (``<key>_stop``, ``<key>_cancel``).
        what: the cancel button's object, e.g. "training".
        step: where a graceful stop happens, e.g. "batch" or "epoch".
    """
    snapshot = job.snapshot()
    stop_column, cancel_column = st.columns(2)
    if stop_column.button(
        "Stop and keep the best epoch", key=f"{key}_stop", disabled=snapshot.cancel_requested or stop_disabled,
        help=f"Stops after the current {step}; the best epoch so far becomes the model.",
    ):  # fmt: skip
        job.stop_early()
        st.toast(f"Stopping after the current {step}; the best epoch so far is kept.")
    if cancel_column.button(
        f"Cancel {what}", key=f"{key}_cancel", disabled=snapshot.cancel_requested and snapshot.phase == "cancelling",
        help="Ends the run within seconds; nothing it wrote is kept.",
    ):  # fmt: skip
        job.cancel()
        st.toast("Cancelled: the run is ended and nothing it wrote is kept.")
