"""The Streamlit side of clipcore, by what each part is (imports point down this list;
checked by tests/test_layers.py):

* ``ui.core``: what every page stands on: cached resources, the page context, sign-in,
  session-state keys, safe text, first-launch chores.
* ``ui.widgets``: reusable widgets: the image grid, charts, the job widget, model choice,
  stored scores.
* ``ui.home``, ``ui.zero_shot``, ``ui.label``, ``ui.evaluate``: one folder per page with that
  page's sections; a page folder never imports another.

The page scripts themselves are in ``app_pages/`` (a new page: a script there, one entry in
app.py's ``PAGES``, and a folder here if it has sections of its own).
"""
