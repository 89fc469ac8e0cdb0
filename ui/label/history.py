"""The Label page's history you can act on: every batch as a row with its own Revert
button (admins revert any, annotators their own), and the review queue where a lead
walks through a colleague's recent batches and accepts or corrects each one
(``clipcore.team.review``). Every write checks the role first (``ui.core.auth.permit``)
and an admin's revert or review is audited."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.errors import ClipcoreError
from clipcore.team import review as rv
from clipcore.team.agreement import annotator_agreement, class_progress
from clipcore.team.guidelines import (MAX_GUIDELINE_CHARS, MAX_GUIDELINE_EXAMPLES, example_candidates, read_guideline_examples,
                                      read_guidelines, save_guideline, save_guideline_examples)

from ui.core import auth
from ui.core import context
from ui.core import resources
from ui.core.text import human_time, md, plural
from ui.label.review import flash, new_page
from ui.widgets.grid import image_grid

ROWS_PER_PAGE = 20
EVERYONE = "(everyone)"
REVIEW_APPLY = "Apply review"  # the review grid's button: accept, or correct the tiles marked wrong
REVIEW_POS = "label_review_pos"  # how many batches of the queue the lead skipped
REVIEW_TILES = 200  # a bigger batch (auto-accept) shows its first 200 images


def _status(b: dict, reviewed: dict) -> str:
    if b["reverted_at"]:
        return f"reverted {human_time(b['reverted_at'])} by {b['reverted_by']}"
    r = reviewed.get(b["batch_id"])
    if r is None:
        return ""
    if r["verdict"] == "accepted":
        return f"accepted by {r['reviewer']}"
    return f"corrected by {r['reviewer']} (batch {str(r['correction_batch'])[:8]})"


def _revert(ws, ws_name: str, annotator: str, batch_id: str) -> int:
    # Checked at click time, not only when the button was drawn: admins revert any batch,
    # annotators their own.
    may_any = auth.can("revert_any", ws_name)
    if not may_any:
        auth.permit("undo_own", ws_name)
    n = lbl.revert_batch(ws, batch_id, annotator=annotator, only_own=not may_any)
    if may_any and n:
        auth.audit("revert", ws_name, batch_id=batch_id, labels=n)
    return n


def _reverted(batch_id: str, n: int) -> None:
    flash(f"Reverted batch {batch_id[:8]} ({plural(n, 'label')})." if n else "That batch was already reverted.", "↩️")
    new_page()


def revert_row(ws, ws_name: str, annotator: str, batch_id: str) -> None:
    """A row's Revert button (a callback: it reports through the next run's message)."""
    try:
        n = _revert(ws, ws_name, annotator, batch_id)
    except ClipcoreError as exc:
        flash(exc.for_app(), "🚫")
        return
    _reverted(batch_id, n)


def team_figures(ws) -> None:
    """Progress per class against its ground-truth total, labels per person, and agreement
    between annotators on images both labelled (Cohen's kappa where it applies)."""
    with st.expander("Team: progress per class, per person, agreement"):
        left, right = st.columns(2)
        progress = class_progress(ws)
        left.caption("Current labels per class, against the images of that class in the ground truth.")
        # st.dataframe, not st.table: a table renders markdown in its cells, and these hold
        # user strings (class names, annotators)
        left.dataframe(pd.DataFrame(
            [{"class": r["class"], "labelled": r["labelled"], "of": "" if r["total"] is None else r["total"],
              "done": "" if not r["total"] else f"{r['labelled'] / r['total']:.0%}"} for r in progress],
            columns=["class", "labelled", "of", "done"]).set_index("class"))
        stats = lbl.annotator_stats(ws)
        right.caption("Per person: images decided (labelled or deselected) and current labels.")
        right.dataframe(pd.DataFrame([{"person": s["annotator"], "decided": s["decided"], "current labels": s["current"]} for s in stats],
                                 columns=["person", "decided", "current labels"]).set_index("person"))
        pairs = annotator_agreement(ws)
        if not pairs:
            st.caption("Agreement: no image has been labelled by two people yet.")
            return
        st.caption("Agreement on images labelled by both people (each person's latest label); Cohen's kappa "
                   "where at least two images and two classes are involved.")
        st.dataframe(pd.DataFrame(
            [{"people": f"{p['a']} · {p['b']}", "shared images": p["images"], "agree": f"{p['percent']:.0%}",
              "Cohen's kappa": "" if p["kappa"] is None else f"{p['kappa']:.2f}"} for p in pairs],
            columns=["people", "shared images", "agree", "Cohen's kappa"]).set_index("people"))


def history_view(ctx, annotator: str) -> None:
    """Every batch, newest first, 20 to a page, each row with its own Revert button."""
    ws = ctx.ws
    batches = lbl.list_batches(ws)
    if not batches:
        st.info("No label batches yet.")
        return
    team_figures(ws)
    reviewed = rv.reviews(ws)
    c1, c2, c3 = st.columns([2, 1, 1])
    people = [EVERYONE, *sorted({b["annotator"] for b in batches})]
    who = c1.selectbox("Made by", people, key="label_history_who")
    hide = c2.toggle("Hide reverted", key="label_history_hide")
    rows = [b for b in batches if (who == EVERYONE or b["annotator"] == who) and not (hide and b["reverted_at"])]
    pages = max(1, -(-len(rows) // ROWS_PER_PAGE))
    page = int(c3.number_input(f"Page (of {pages})", 1, pages, 1, key="label_history_page"))
    shown = rows[(page - 1) * ROWS_PER_PAGE : page * ROWS_PER_PAGE]
    st.caption(f"{len(rows)} of {len(batches)} batches. Admins revert any batch; annotators their own.")
    any_batch, own_batch = ctx.can("revert_any"), ctx.can("undo_own")
    widths = [1.1, 1.3, 1.2, 1.2, 2.4, 0.9, 2.2, 1.0]
    head = st.columns(widths)
    for col, name in zip(head, ["Batch", "When", "Who", "Class", "Source", "Images", "Status", ""]):
        col.markdown(f"**{name}**")
    for b in shown:
        bid = str(b["batch_id"])
        cols = st.columns(widths, vertical_alignment="center")
        cols[0].text(bid[:8])
        cols[1].text(human_time(b["created_at"]))
        cols[2].text(b["annotator"])
        cols[3].text(b["class"])
        cols[4].text(lbl.describe_source(b["source"]))
        cols[5].text(f"{b['size']}" + (f" (−{b['rejected']})" if b["rejected"] else ""))
        cols[6].text(_status(b, reviewed))
        may = any_batch or (own_batch and b["annotator"] == annotator)
        if may and not b["reverted_at"]:
            cols[7].button(
                "Revert", key=f"label_revert_row-{bid}", on_click=revert_row, args=(ws, ctx.entry.name, annotator, bid),
                help=f"Undo batch {bid[:8]}: its labels stop counting; it stays in this history.",
            )
    if any_batch or own_batch:
        _revert_by_id(ctx, annotator, any_batch)


def _revert_by_id(ctx, annotator: str, any_batch: bool) -> None:
    """A batch id pasted from elsewhere (a colleague's message, the exported history)."""
    help_text = "The whole id or its first 8 characters." + ("" if any_batch else " You can revert your own batches.")
    batch_id = st.text_input("Batch id to revert", key="label_revert_id-", help=help_text)
    if st.button("Revert batch", key="label_revert", disabled=not batch_id.strip()):
        try:
            n = _revert(ctx.ws, ctx.entry.name, annotator, batch_id.strip())
        except ClipcoreError as exc:
            context.show_error(exc)
            return
        _reverted(batch_id.strip(), n)
        st.rerun()


# -- the review queue ------------------------------------------------------------------------


def _classes(ws) -> list[str]:
    return sorted(set(lbl.current_label_arrays(ws).counts()) | set(resources.catalogue_summary(ws)["per_class"]))


def review_view(ctx, annotator: str) -> None:
    """A lead walks through a colleague's recent batches: Accept, or Correct the tiles
    they deselect (a new batch giving those images the right class), or Skip."""
    ws = ctx.ws
    if not ctx.can("review"):
        st.info("A lead (admin) reviews colleagues' batches here: accepts them or corrects them.")
        return
    guidelines_editor(ctx)
    everyone = rv.review_queue(ws, annotator, limit=500)
    people = [EVERYONE, *sorted({b["annotator"] for b in everyone})]
    who = st.selectbox("Whose batches", people, key="label_review_who")
    queue = [b for b in everyone if who == EVERYONE or b["annotator"] == who]
    if not queue:
        st.success("Nothing waiting for review: every colleague's batch is accepted, corrected or reverted.")
        return
    pos = int(st.session_state.get(REVIEW_POS, 0)) % len(queue)
    b = queue[pos]
    bid = str(b["batch_id"])
    st.markdown(
        f"**Batch {pos + 1} of {len(queue)} waiting** · {md(b['annotator'])} labelled {b['size']} images "
        f"as **{md(b['class'])}** {md(human_time(b['created_at']))} ({md(lbl.describe_source(b['source']))})"
    )
    ids = rv.batch_images(ws, bid)
    shown = ids[:REVIEW_TILES]
    if len(ids) > len(shown):
        st.caption(f"Showing the first {len(shown)} of {len(ids)} images.")
    grid_key = f"label-review-{bid[:12]}"
    options = [c for c in _classes(ws) if c != b["class"]]
    c1, c2 = st.columns([3, 1])
    right = c1.selectbox("Right class for the tiles marked wrong", options, key="label_review_class",
                         accept_new_options=True, index=None, placeholder="Choose or type the right class")
    if c2.button("Skip", key="label_review_skip", disabled=len(queue) < 2):
        st.session_state[REVIEW_POS] = pos + 1
        st.rerun()
    st.caption(f"Every tile starts as right. Click the tiles that are not {b['class']} to mark them wrong, then "
               f"{REVIEW_APPLY} (or A): with none marked the batch is accepted; the marked tiles get the class "
               "chosen above, as a batch of their own.")
    # Marking happens in the browser; the grid sends the tiles still marked right once, on Apply.
    grid = image_grid(ws, shown, key=grid_key, notes={i: b["class"] for i in shown}, columns=6, selectable=True,
                      assign_label=REVIEW_APPLY, find_similar=False)
    if grid.assigned is None:
        return
    kept = set(grid.assigned)
    wrong = [i for i in shown if i not in kept]
    if not wrong:
        _act(ctx, "review_accept", bid, lambda: rv.accept_batch(ws, bid, reviewer=annotator),
             f"Accepted batch {bid[:8]} by {b['annotator']}.")
    elif not right:
        st.error(f"{plural(len(wrong), 'tile')} marked wrong: choose the right class for them above, then {REVIEW_APPLY} again.",
                 icon="🚫")
    else:
        _act(ctx, "review_correct", bid, lambda: rv.correct_batch(ws, bid, wrong, right, reviewer=annotator),
             f"Corrected {plural(len(wrong), 'image')} of batch {bid[:8]} to {right!r}; the correction is a batch of its own.")


def _act(ctx, action: str, batch_id: str, write, done: str) -> None:
    try:
        auth.permit("review", ctx.entry.name)
        result = write()
    except ClipcoreError as exc:
        context.show_error(exc)
        return
    details = {"batch_id": batch_id}
    if result:
        details["correction_batch"] = result
    auth.audit(action, ctx.entry.name, **details)
    flash(done)
    new_page()
    st.rerun()


# -- per-class guidelines ---------------------------------------------------------------------


GUIDELINE_PREVIEW_CHARS = 120  # about two lines beside the example thumbnails


def _example_thumbnails(ws, ids: list[int], width: int = 72, captions: bool = False) -> None:
    """Small thumbnails (never the originals), with their file names as captions in the editor
    (not on the Label view, where the grid's first row must stay on the first screen)."""
    records = ws.images(ids)
    st.image([resources.thumbnail_url(str(ws.thumbnail_path(r.content_hash))) for r in records],
             caption=[r.path.rsplit("/", 1)[-1] for r in records] if captions else None, width=width)


def show_guideline(ws, label: str) -> None:
    """The lead's guideline for the class being assigned, if any (the Label view): the text
    with the example images the lead picked beside it."""
    text = read_guidelines(ws).get(label)
    examples = read_guideline_examples(ws).get(label, [])
    if not text and not examples:
        return
    if not examples:
        _guideline_text(st.container(), label, text)
        return
    c_text, c_images = st.columns([3, 2], vertical_alignment="center")
    if text:
        _guideline_text(c_text, label, text)
    else:
        c_text.info(f"**Examples of {md(label)}**", icon="📝")
    with c_images:
        _example_thumbnails(ws, examples)


def _guideline_text(where, label: str, text: str) -> None:
    """The guideline's opening (two lines at most) in a box, and a long one whole in a folded
    expander: a guideline may hold 2,000 characters, which pushed the grid a screen down."""
    shown = text if len(text) <= GUIDELINE_PREVIEW_CHARS else text[:GUIDELINE_PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
    where.info(f"**Guideline for {md(label)}:** {md(shown)}", icon="📝")
    if shown != text:
        with where.expander("The whole guideline"):
            st.markdown(md(text))


def _load_guideline(ws) -> None:
    label = st.session_state.get("label_guideline_class")
    st.session_state["label_guideline_text"] = read_guidelines(ws).get(label or "", "")
    st.session_state["label_guideline_examples"] = read_guideline_examples(ws).get(label or "", [])


def guidelines_editor(ctx) -> None:
    """Leads write a short guideline per class, with a few example images picked from the
    images labelled with that class (or whose ground truth it is); annotators see both on the
    Label view."""
    ws = ctx.ws
    with st.expander("Guidelines per class (shown to annotators while they label)"):
        current = read_guidelines(ws)
        label = st.selectbox("Class", sorted(set(_classes(ws)) | set(current)), index=None, key="label_guideline_class",
                             accept_new_options=True, on_change=_load_guideline, args=(ws,), placeholder="Choose a class")
        text = st.text_area("Guideline", key="label_guideline_text", max_chars=MAX_GUIDELINE_CHARS,
                            help="What belongs in this class and what does not; empty removes it.")
        chosen: list[int] = []
        if label:
            picked = [int(i) for i in st.session_state.get("label_guideline_examples", [])]
            live = ws.live_subset(picked)  # an image deleted meanwhile is no option any more
            chosen = [i for i in picked if i in live]
            candidates = list(dict.fromkeys([*chosen, *example_candidates(ws, label)]))
            names = {r.id: r.path for r in ws.images(candidates)}
            st.session_state["label_guideline_examples"] = chosen
            chosen = st.multiselect(
                f"Example images (up to {MAX_GUIDELINE_EXAMPLES})", candidates, key="label_guideline_examples",
                format_func=lambda i: names.get(i, f"image {i}"), max_selections=MAX_GUIDELINE_EXAMPLES,
                placeholder="Images labelled with this class", help="Shown as small thumbnails beside the guideline.",
            )
            if chosen:
                _example_thumbnails(ws, chosen, width=110, captions=True)
            elif not candidates:
                st.caption("No image is labelled with this class yet: label a few first, then pick examples here.")
        if st.button("Save guideline", key="label_guideline_save", disabled=not label):
            try:
                auth.permit("review", ctx.entry.name)
                save_guideline(ws, label, text)
                save_guideline_examples(ws, label, chosen)
            except ClipcoreError as exc:
                context.show_error(exc)
                return
            saved = text.strip() or chosen
            st.success(f"Saved the guideline for {md(label)}." if saved else f"Removed the guideline for {md(label)}.")
