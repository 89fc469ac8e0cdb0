"""The workspace store and what fills it.

Owns the SQLite catalogue and its one ordered migration history (``store``), the image
decoder (``images``), ingestion of a folder (``ingest``), background jobs (``jobs``) and
label events, batches and claims (``labels``: data that search and splits read, so it
sits here, below them). Imports only the bottom layer (``clipcore.errors``, ``config``,
``parallel``).
"""
