"""Reusable widgets, each used by more than one page: the image grid (``grid``, its static
component in ``components/grid``), charts in the one palette (``charts``), the job widget
(``jobs``: start a declared job kind, its progress, result or failure), a second model
(``model_compare``) and stored zero-/few-shot scores (``prediction_jobs``). Imports
``ui.core`` only."""
