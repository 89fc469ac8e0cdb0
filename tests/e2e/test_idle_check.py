"""conftest's IDLE (what every browser test waits for) against the status widget as
Streamlit 1.67 draws it: while a script runs it shows a running icon whose only text is its
aria-label, then a "Stop" button; neither says "running" in its text, which is all the old
check read. The markup below is the widget's (its data-testids), reduced to what IDLE reads."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import IDLE

MAIN = '<section data-testid="stMain"><h1>Search</h1></section>'
ICON = '<div role="img" aria-label="Running..." data-testid="stStatusWidgetRunningIcon"><svg></svg></div>'
STOP = '<button kind="header">Stop</button>'


@pytest.mark.parametrize("status, main, idle", [
    ("", MAIN, True),  # nothing runs
    (ICON, MAIN, False),  # a run just started: the icon only
    (ICON + STOP, MAIN, False),  # after 500 ms: the icon and Stop
    ("<span>Running...</span>", MAIN, False),  # older Streamlit: the word
    ("", MAIN.replace("<h1>", '<h1 data-stale="true">'), False),  # the page greyed while a rerun replaces it
    ("", "", False),  # not drawn yet
])
def test_idle_means_no_script_runs_and_nothing_is_stale(page, status, main, idle):
    page.set_content(f'<header><div data-testid="stStatusWidget">{status}</div></header>{main}')
    assert page.evaluate(IDLE) is idle
