"""What every page stands on: cached resources (``resources``, ``classifier_cache``: the only
``st.cache_*`` wrappers), the page context (``context``), sign-in (``auth``), session-state keys
(``state``), safe text (``text``), the link to Home (``navigation``) and the first-launch
chores (``first_launch``). Imports nothing from ``ui.widgets`` or the page folders."""
