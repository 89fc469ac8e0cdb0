"""The grid component's value handling (ui.widgets.grid.new_event), as a plain function: AppTest
does not run the component, so what a browser sends is checked here."""

from __future__ import annotations

from ui.widgets.grid import component_key, new_event, results_sig


def test_no_value_or_a_foreign_value_is_no_event():
    assert new_event(None, None) is None  # AppTest / first draw: the default
    assert new_event({"action": "view", "id": 3}, None) is None  # no nonce
    assert new_event({"action": "drop_tables", "id": 3, "nonce": "n1"}, None) is None
    assert new_event("view", None) is None


def test_a_click_counts_once():
    click = {"action": "similar", "id": 3, "nonce": "n1"}
    assert new_event(click, None) == click
    assert new_event(click, "n1") is None  # the same value on the next rerun: already acted on
    again = {"action": "similar", "id": 3, "nonce": "n2"}
    assert new_event(again, "n1") == again  # the same tile clicked again is a new event


def test_a_click_on_earlier_results_is_ignored():
    """The frame is kept across results (one component key per grid): a click carries the
    results' signature, and one on the previous results is not applied to the new ones."""
    assert component_key("g") == "g-c"
    old, new = results_sig([1, 2, 3]), results_sig([1, 2, 4])
    assert old != new and results_sig([1, 2, 3]) == old
    click = {"action": "assign", "selected": [], "nonce": "n1", "sig": old}
    assert new_event(click, None, old) == click
    assert new_event(click, None, new) is None


def test_selection_is_not_sent_and_only_server_work_is():
    """Selecting happens in the browser: a per-click "select" or "view" value is no event;
    Assign, more like this and the lightbox's preview are."""
    for action in ("select", "view"):
        assert new_event({"action": action, "id": 3, "nonce": "n1"}, None) is None
    for action in ("assign", "similar", "preview"):
        value = {"action": action, "id": 3, "selected": [3], "nonce": "n1"}
        assert new_event(value, None) == value
