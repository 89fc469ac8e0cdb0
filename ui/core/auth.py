"""Who is using the app: one ``current_user()`` adapter for the three ``[auth]`` modes,
the sign-in page, sign-out, session expiry, and the permission checks pages and
callbacks call (the table itself is ``clipcore.team.roles``).

- ``none``: one person on their own machine, admin, name unverified; the app must
  listen on a loopback address (``startup_refusal``).
- ``oidc``: ``st.login`` / ``st.user`` (configured in ``.streamlit/secrets.toml``); the
  identity is the one claim ``[auth] identity`` names (``sub``, or a verified email); a
  sign-in older than ``session_hours`` (the ID token's ``iat``) is signed out.
- ``proxy``: a reverse proxy sets the user header, once; only with ``trusted_proxy =
  true``, and only from a peer in ``trusted_proxies`` (loopback by default).

The rules themselves are ``clipcore.team.access``; this module reads Streamlit's request.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import streamlit as st

from clipcore import jobkinds
from clipcore.catalog import jobs
from clipcore.catalog.store import Workspace
from clipcore.config import AuthSettings, load_auth, load_settings
from clipcore.errors import ClipcoreError, PermissionDenied
from clipcore.team import access, audit as audit_log
from clipcore.team.roles import allowed, role_for

from ui.core.text import md

logger = logging.getLogger(__name__)

ACTION_WORDS = {
    "view": "open this page",
    "label": "label images",
    "undo_own": "undo batches",
    "edit_prompts": "save prompt sets",
    "revert_any": "revert a colleague's batch",
    "resolve_conflicts": "resolve conflicts",
    "start_jobs": "start ingest, embed, evaluation or baseline jobs",
    "export_files": "copy images into folders on the server",
    "overwrite": "overwrite a colleague's labels",
    "audit": "read the audit log",
    "review": "review a colleague's batches",
}


@dataclass(frozen=True)
class User:
    """The person behind this browser session.

    ``id`` is stable and unique (the OIDC claim ``[auth] identity`` names, or the proxy's
    user header), is what role lists are matched against and what labels record; ``name`` is for display only. In mode ``none`` ``id`` is empty
    and the Label page asks for a name, shown as unverified.
    """

    id: str
    name: str
    verified: bool


def auth_settings() -> AuthSettings:
    """The ``[auth]`` settings, read on every run (a config change applies at once)."""
    return load_auth()


def _header_values(name: str) -> list[str]:
    # Every value of a repeated header: Streamlit's .get() returns only one of them.
    return list(st.context.headers.get_all(name))


def _listen_address() -> str | None:
    return st.get_option("server.address")


def _allowed_hosts() -> list[str]:
    return list(st.get_option("server.allowedHosts") or [])


def _peer_address() -> str | None:
    # Streamlit reports a loopback peer as None.
    return st.context.ip_address


def startup_refusal(auth: AuthSettings) -> str | None:
    """Why the app must not serve anyone as started, or None (``clipcore.team.access``)."""
    return access.startup_refusal(auth, address=_listen_address(), allowed_hosts=_allowed_hosts(), env=os.environ)


def _oidc_claims() -> dict:
    return dict(st.user)


def _oidc_user(auth: AuthSettings) -> User | None:
    user = st.user
    if not user.get("is_logged_in"):
        return None
    issued = user.get("iat")
    if isinstance(issued, (int, float)) and time.time() - issued > auth.session_hours * 3600:
        logger.info("session of %s expired after %.1f h; signing out", user.get("sub"), auth.session_hours)
        st.logout()
    try:
        identity = access.oidc_identity(_oidc_claims(), auth.identity)
    except PermissionDenied as exc:
        logger.warning("refused OIDC sign-in of sub %r: %s", user.get("sub"), exc)
        return None
    return User(identity, str(user.get("name") or identity), True)


def _proxy_user(auth: AuthSettings) -> User | None:
    peer = _peer_address()
    if not access.proxy_peer_trusted(peer, auth.trusted_proxies):
        logger.warning("refused user header from untrusted peer %s", peer)
        return None
    try:
        identity = access.proxy_identity(_header_values(auth.header))
    except PermissionDenied as exc:
        logger.warning("refused proxy sign-in from %s: %s", peer, exc)
        return None
    return User(identity, identity, True)


def current_user(auth: AuthSettings | None = None) -> User | None:
    """The signed-in person, or None when nobody is signed in (or the session expired)."""
    auth = auth or auth_settings()
    if auth.mode == "oidc":
        return _oidc_user(auth)
    if auth.mode == "proxy":
        return _proxy_user(auth)
    return User("", "local user", False)


def current_role(user: User | None, workspace: str | None, auth: AuthSettings | None = None) -> str | None:
    """The user's role in ``workspace`` (None: no role, may do nothing)."""
    if user is None:
        return None
    return role_for(auth or auth_settings(), user.id, workspace)


def permit(action: str, workspace: str | None) -> User:
    """For widget callbacks that write (they run before the script): recompute who is
    signed in and check ``action``; returns the user.

    Raises:
        PermissionDenied: nobody is signed in, or the role does not allow it.
    """
    auth = auth_settings()
    user = current_user(auth)
    role = current_role(user, workspace, auth)
    if user is None or not allowed(role, action):
        who = "nobody is signed in" if user is None else f"{user.name} is {role or 'not given a role'} here"
        raise PermissionDenied(f"not allowed to {ACTION_WORDS[action]}: {who}.")
    return user


def can(action: str, workspace: str | None) -> bool:
    """Whether the current user may do ``action`` (for disabling a button; the callback
    still calls :func:`permit`)."""
    try:
        permit(action, workspace)
    except PermissionDenied:
        return False
    return True


def require(action: str, workspace: str | None) -> tuple[User, str]:
    """The page prologue's check: the user and role, or a refusal and ``st.stop()``.

    It repeats app.py's checks (a page script can run without app.py: Streamlit's
    pages-folder mode, AppTest), so every page is gated on its own.
    """
    try:
        auth = auth_settings()
    except ClipcoreError as exc:
        st.error(md(exc), icon="🚫")
        st.stop()
    refusal = startup_refusal(auth)
    if refusal:
        st.error(md(refusal), icon="🚫")
        st.stop()
    user = current_user(auth)
    if user is None:
        sign_in_page(auth)
        st.stop()
    role = current_role(user, workspace, auth)
    if not allowed(role, action):
        st.error(
            f"**{md(user.name)}** has no permission to {ACTION_WORDS[action]} in workspace "
            f"{md(workspace or '(default)')} (role: {role or 'none'}). Ask an admin to add you in clipcore.toml [auth].",
            icon="🔒",
        )
        account_sidebar(user, role, auth)
        st.stop()
    return user, role


def sign_in_page(auth: AuthSettings | None = None) -> None:
    """What a visitor who is not signed in sees: nothing but this."""
    auth = auth or auth_settings()
    st.title("Sign in")
    if auth.mode == "oidc":
        refused = _oidc_refusal(auth)
        if refused:
            st.warning(md(refused), icon="🔒")
            if st.button("Sign out", key="auth_refused_sign_out"):
                st.logout()
            return
        st.write("This clipcore workspace is shared by a team. Sign in to search and label.")
        if st.button("Sign in", type="primary", key="auth_sign_in"):
            st.login()
    else:
        st.write(
            "This app expects a reverse proxy in front of it to sign you in. Open it through the "
            "lab's address (not the app's port directly)."
        )


def _oidc_refusal(auth: AuthSettings) -> str | None:
    """Why a person the provider signed in is not let in (an unverified email), or None."""
    if not st.user.get("is_logged_in"):
        return None
    try:
        access.oidc_identity(_oidc_claims(), auth.identity)
    except PermissionDenied as exc:
        return str(exc)
    return None


def account_sidebar(user: User, role: str | None, auth: AuthSettings | None = None) -> None:
    """Who is signed in, their role, and a sign-out button (OIDC)."""
    auth = auth or auth_settings()
    if auth.mode == "none":
        return
    st.sidebar.caption(f"Signed in as **{md(user.name)}** ({md(user.id)}), {role or 'no role'}")
    if auth.mode == "oidc" and st.sidebar.button("Sign out", key="auth_sign_out"):
        st.logout()


# -- the audit log of admin actions (clipcore.team.audit) ------------------------------------


def audit(action: str, workspace: str | None, **details) -> None:
    """Record an admin action done just now by the signed-in person. A log that cannot be
    written is an error in the server log and a warning on the page; the action stands."""
    user = current_user()
    who = (user.id or user.name) if user is not None else "(nobody signed in)"
    try:
        audit_log.record_action(load_settings().app_data, who=who, action=action, workspace=workspace, details=details)
    except ClipcoreError as exc:
        logger.error("audit log not written (%s %s): %s", who, action, exc)
        st.warning(f"Done, but the audit log could not be written: {md(exc)}", icon="⚠️")


def start_kind(ws: Workspace, kind: str, **params) -> str:
    """``clipcore.jobkinds.start_kind`` (a declared job kind from its parameters), recorded
    in the audit log with who started it. Every job the app starts goes through here or
    :func:`start_job`."""
    return start_job(ws, kind, jobkinds.job_kind(kind).command_line(**params))


def start_job(ws: Workspace, kind: str, args: list[str]) -> str:
    """``clipcore.jobkinds.start_job`` (a declared kind with a ready command line, e.g. a
    retry), recorded in the audit log with who started it."""
    job_id = jobkinds.start_job(ws, kind, args)
    audit("job_start", str(ws.root), job_id=job_id, command=kind, args=list(args))
    return job_id


def cancel_job(ws: Workspace, job_id: str) -> None:
    """``clipcore.catalog.jobs.cancel_job``, recorded in the audit log."""
    jobs.cancel_job(ws, job_id)
    audit("job_cancel", str(ws.root), job_id=job_id)


def render_audit_log(workspace: str | None) -> None:
    """The audit log for admins: the latest entries and the whole log as CSV."""
    if not can("audit", workspace):
        return
    with st.expander("Audit log of admin actions"):
        try:
            path = load_settings().app_data
            entries = audit_log.read_actions(path)
        except ClipcoreError as exc:
            st.error(md(exc), icon="🚫")
            return
        if not entries:
            st.caption("No admin action recorded yet (reverts, conflict resolutions, collections, jobs).")
            return
        st.dataframe(
            [{**{k: e.get(k) for k in ("at", "who", "action", "workspace")}, "details": str(e.get("details"))} for e in entries[:200]],
            hide_index=True,
            key="auth_audit_table",
        )
        st.download_button(
            f"Download the audit log ({len(entries):,} entries, CSV)", audit_log.actions_csv(entries),
            file_name="clipcore-audit.csv", mime="text/csv", key="auth_audit_csv",
        )
