"""Where collections come from, kept out of the core path.

Owns the synthetic demo collection (``demo``); a new image source (an IIIF import, say)
goes here. Imports ``catalog`` and the bottom layer; only the CLI, the benchmarks and
the app import it.
"""
