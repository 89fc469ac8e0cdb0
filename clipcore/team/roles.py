"""Who may do what: the permission table and the one function that enforces it.

Roles per workspace come from ``[auth]`` in ``clipcore.toml`` (``clipcore.config.load_auth``).
Every page prologue and every widget callback that writes asks :func:`allowed`; the
table is written out in docs/SECURITY.md.
"""

from __future__ import annotations

from typing import Mapping

from clipcore.config import ROLES, AuthSettings

ACTIONS = (
    "view",  # open a page, search, look at images and results, download CSV/JSON/reports
    "label",  # assign / reject in a batch, claim pages, auto-accept
    "undo_own",  # revert one's own batch
    "edit_prompts",  # save a prompt-set version on the Zero-shot page
    "revert_any",  # revert anybody's batch
    "resolve_conflicts",  # settle disagreements, one by one or in bulk
    "start_jobs",  # ingest, embed, evaluation and baseline jobs
    "export_files",  # copy images into class folders on the server
    "overwrite",  # assign, explicitly, over images a colleague labelled since the page was drawn
    "audit",  # read and export the audit log of admin actions
    "review",  # walk through colleagues' batches, accept or correct them
)

PERMISSIONS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "annotator": frozenset({"view", "label", "undo_own", "edit_prompts", "overwrite"}),
    "admin": frozenset(ACTIONS),
}


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` may do ``action``; no role (``None``) may do nothing.

    Raises:
        ValueError: an action or role not in the table (a typo must not read as "no").
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {list(ACTIONS)}.")
    if role is None:
        return False
    if role not in PERMISSIONS:
        raise ValueError(f"unknown role {role!r}; roles are {list(ROLES)}.")
    return action in PERMISSIONS[role]


def role_for(auth: AuthSettings, identity: str | None, workspace: str | None) -> str | None:
    """The role of ``identity`` in ``workspace``; ``None`` when no list names it.

    ``identity`` is one value (the configured OIDC claim, or the proxy's user header),
    never several: a second claim that matched a list would let a person choose their
    own role (a provider ``sub`` spelled like the admin's email). A workspace with an
    ``[auth.workspaces.NAME]`` block uses that block's lists only. A list that names the
    person wins over ``"*"`` (so ``viewers = ["guest@lab"]`` holds even with
    ``annotators = ["*"]``); among those, the highest role. In mode ``none`` the one local
    user is admin."""
    if auth.mode == "none":
        return "admin"
    if not identity:
        return None
    lists = auth.workspace_roles.get(workspace or "", auth.roles)
    for role in reversed(ROLES):
        if identity in lists.get(role, ()):
            return role
    for role in reversed(ROLES):
        if "*" in lists.get(role, ()):
            return role
    return None
