"""Exceptions raised at clipcore's public edges.

Every message says what was expected, what arrived, and what to do, so that the
CLI can print it as one line and a page can show it with ``st.error``.
"""

from __future__ import annotations


class ClipcoreError(Exception):
    """Base class of every error clipcore raises on purpose."""


class ConfigError(ClipcoreError):
    """A setting (config file, environment variable or flag) has a bad value."""


class ModelUnavailableError(ClipcoreError):
    """Model weights are neither cached locally nor reachable."""


class WorkspaceError(ClipcoreError):
    """The workspace is missing, unreadable, locked or lacks what was asked for."""


class InputError(ClipcoreError, ValueError):
    """An argument from the user (ids, query, file) is not acceptable."""


class UnsafePathError(InputError):
    """A path leads outside the folder it must stay in (a symlink swapped in after ingest,
    ``..``), or is not a regular file; the file is not read."""


class PermissionDenied(ClipcoreError):
    """The signed-in person's role does not allow this action in this workspace."""


class ServerBusy(ClipcoreError):
    """The server runs as much heavy in-process work as it may (``CLIPCORE_MAX_HEAVY``);
    try again in a moment."""
