"""One way to put a user's string into anything Streamlit renders as markdown.

Class names, prompt-set names, annotator names, batch ids, paths and remote metadata can
hold markdown (``[link](http://...)``, ``![img](http://...)``), HTML or LaTeX. Every
markdown-rendering call (st.markdown, st.caption, st.warning/info/error/success, st.toast,
widget labels and help) gets user strings through :func:`md` first.
"""

from __future__ import annotations

import html
import re

# Markdown, Streamlit's extensions (:colour[...], :material/icon:, $latex$) and HTML.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$>])")
# GitHub-flavoured markdown turns bare "http://...", "www..." and "name@host" into links
# even when every markdown character is escaped; a zero-width space right before the
# "://", the "." of "www." and the "@" stops that, and shows nothing.
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(?=://)|(?<=\bwww)(?=\.)|(?=@)")
_ZWSP = "\u200b"


# The one pace figure the app shows (Label and Present): clipcore.catalog.labels.annotator_stats.
PACE_COLUMN = "pace (images/min, last 10 min)"
PACE_HELP = "Images decided (labelled or deselected) per minute over the last 10 minutes; the same figure on Present."


def plural(n: int, noun: str, many: str | None = None) -> str:
    """"1 batch", "3 batches", "1,200 images": a count with its noun in the right number."""
    word = noun if n == 1 else (many or (noun + "es" if noun.endswith(("s", "sh", "ch", "x")) else noun + "s"))
    return f"{n:,} {word}"


def app_text(text: object) -> str:
    """What a page says for ``text``: a clipcore error's message with its page hint (never
    its CLI hint, ``ClipcoreError.for_app``); anything else as ``str``."""
    from clipcore.errors import ClipcoreError

    return text.for_app() if isinstance(text, ClipcoreError) else str(text)


def md(text: object) -> str:
    """``text`` as literal text inside markdown: every markdown character backslash-escaped,
    ``<``/``&`` as entities, newlines folded to spaces (a string cannot open a block), and
    bare URLs and e-mail addresses kept from becoming links (a zero-width space). A clipcore
    error gives its message with the page's hint (``app_text``)."""
    s = app_text(text).replace("\r", " ").replace("\n", " ")
    s = html.escape(s, quote=False)
    s = _AUTOLINK.sub(_ZWSP, s)
    return _SPECIAL.sub(r"\\\1", s)


def code(text: object) -> str:
    """``text`` as inline code: backticks removed so it cannot close the span early."""
    s = str(text).replace("\r", " ").replace("\n", " ").replace("`", "'")
    return f"`{s}`" if s else "``"


def human_time(iso: object, now: "datetime | None" = None) -> str:
    """A stored ISO-8601 time for people: "just now", "5 min ago", "today 14:02",
    "yesterday 09:15", or "27 Nov 2026 14:02" (local time); the input unchanged if unreadable."""
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    when, now = when.astimezone(), now.astimezone()
    seconds = (now - when).total_seconds()
    if 0 <= seconds < 60:
        return "just now"
    if 0 <= seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    days = (now.date() - when.date()).days
    if days == 0:
        return f"today {when:%H:%M}"
    if days == 1:
        return f"yesterday {when:%H:%M}"
    return f"{when.day} {when:%b %Y %H:%M}"


def job_eta(job: dict) -> str:
    """", about 3 min left" from a running job's progress and times ("" when unknown)."""
    from datetime import datetime

    try:
        elapsed = (datetime.fromisoformat(job["updated_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return ""
    done, total = job.get("done") or 0, job.get("total") or 0
    if not done or not total:
        return ""
    left = elapsed / done * (total - done)
    return f", about {left / 60:.0f} min left" if left >= 90 else f", about {left:.0f} s left"
