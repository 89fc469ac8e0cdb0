"""Evaluate's "Checks" panel: every warning of an evaluation (and its baseline) in one
collapsed list, in plain words, with methods by their display names."""

from __future__ import annotations

import re
from typing import Iterable

import streamlit as st

from clipcore import UNTRAINED_WARNING
from clipcore.classify.fewshot import METHOD_TITLES

from ui.core.text import md

# Internal method names as whole words (runs stored before display names were used carry them).
_METHOD = re.compile(r"\b(" + "|".join(sorted(map(re.escape, METHOD_TITLES), key=len, reverse=True)) + r")\b")


def plain_check(text: str) -> str:
    """One warning in plain words: internal method names replaced by display names, first letter upper case."""
    out = _METHOD.sub(lambda m: METHOD_TITLES[m.group(1)], str(text)).strip()
    return out[:1].upper() + out[1:]


def collect_checks(warnings: Iterable[str], baseline_warnings: Iterable[str] = ()) -> list[str]:
    """The checks to show, each once, in order; the untrained-model warning is left to the page banner."""
    items = [plain_check(w) for w in warnings if str(w).strip() and str(w) != UNTRAINED_WARNING]
    items += [f"Baseline: {plain_check(w)}" for w in baseline_warnings if str(w).strip()]
    return list(dict.fromkeys(items))


def render_checks(warnings: Iterable[str], baseline_warnings: Iterable[str] = ()) -> list[str]:
    """One collapsed "Checks" panel listing every check; nothing when there is none. Returns the checks."""
    items = collect_checks(warnings, baseline_warnings)
    if items:
        with st.expander(f"Checks ({len(items)}): things that may make these numbers less reliable", icon="⚠️"):
            st.markdown("\n".join(f"- {md(item)}" for item in items))
    return items
