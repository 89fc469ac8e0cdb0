"""Streamlit-side helpers: cached resources, session-state keys, reusable widgets."""
