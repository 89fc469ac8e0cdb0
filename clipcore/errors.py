"""Exceptions raised at clipcore's public edges.

Every message says what was expected, what arrived, and what to do, so that the
CLI can print it as one line and a page can show it with ``st.error``.
"""

from __future__ import annotations


class ClipcoreError(Exception):
    """Base class of every error clipcore raises on purpose.

    The message says what went wrong; the way out depends on who reads it, so an error may
    carry one hint per audience: ``cli_hint`` names the command or flag to use ("run
    `python -m clipcore embed` first") and is part of ``str(exc)``, which the CLI prints;
    ``app_hint`` names the page's button or field ("Open Home and press Embed") and is what
    :meth:`for_app` adds instead. A page shows ``exc.for_app()``, never a CLI hint.
    """

    def __init__(self, message: object = "", *, cli_hint: str | None = None, app_hint: str | None = None) -> None:
        super().__init__(message)
        self.cli_hint = cli_hint
        self.app_hint = app_hint

    @property
    def message(self) -> str:
        """The message without either hint."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return _join(self.message, self.cli_hint)

    def for_app(self) -> str:
        """The message with the app's hint (the page action), without the CLI's."""
        return _join(self.message, self.app_hint)


def _join(message: str, hint: str | None) -> str:
    if not hint:
        return message
    return f"{message.rstrip()} {hint.strip()}" if message else hint.strip()


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
