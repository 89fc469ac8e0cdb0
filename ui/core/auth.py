"""Who is using the app: one ``current_user()`` adapter for the three ``[auth]`` modes,
the sign-in page, sign-out, session expiry, and the permission checks pages and
callbacks call (the table itself is ``clipcore.team.roles``).

- ``none``: one person on their own machine, admin, name unverified; the app must
  listen on a loopback address (``startup_refusal``).
- ``oidc``: ``st.login`` / ``st.user`` (configured in ``.streamlit/secrets.toml``); the
  identity is the email claim, else ``sub``; a sign-in older than ``session_hours``
  (the ID token's ``iat``) is signed out.
- ``proxy``: a reverse proxy sets the user header; only with ``trusted_proxy = true``,
  and only from a peer in ``trusted_proxies`` (loopback by default).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Mapping

import streamlit as st

from clipcore.config import AuthSettings, load_auth
from clipcore.errors import ClipcoreError, PermissionDenied
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
}


@dataclass(frozen=True)
class User:
    """The person behind this browser session.

    ``id`` is stable and unique (OIDC email or ``sub``, the proxy's user header) and is
    what labels record; ``name`` is for display only. In mode ``none`` ``id`` is empty
    and the Label page asks for a name, shown as unverified.
    """

    id: str
    name: str
    verified: bool
    aliases: tuple[str, ...] = ()


def auth_settings() -> AuthSettings:
    """The ``[auth]`` settings, read on every run (a config change applies at once)."""
    return load_auth()


def _request_headers() -> Mapping[str, str]:
    return st.context.headers


def _listen_address() -> str | None:
    return st.get_option("server.address")


def _peer_address() -> str | None:
    # Streamlit reports a loopback peer as None.
    return st.context.ip_address


def _is_loopback(host: str | None) -> bool:
    if host in (None, ""):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def startup_refusal(auth: AuthSettings) -> str | None:
    """Why the app must not serve anyone, or None: mode ``none`` (no sign-in, everyone
    admin) on an address other people can reach."""
    address = _listen_address()
    if auth.mode == "none" and not _is_loopback(address):
        shown = address or "every interface (server.address is empty)"
        return (
            f"Sign-in is off ([auth] mode = \"none\") but the app listens on {shown}. Anyone who can reach it "
            "would be admin. Start it on 127.0.0.1 (as .streamlit/config.toml does), or turn on sign-in: "
            "[auth] mode = \"oidc\" or \"proxy\" in clipcore.toml (README, \"Run it for a team\")."
        )
    return None


def _oidc_user(auth: AuthSettings) -> User | None:
    user = st.user
    if not user.get("is_logged_in"):
        return None
    issued = user.get("iat")
    if isinstance(issued, (int, float)) and time.time() - issued > auth.session_hours * 3600:
        logger.info("session of %s expired after %.1f h; signing out", user.get("email") or user.get("sub"), auth.session_hours)
        st.logout()
    email, sub = user.get("email"), user.get("sub")
    identity = str(email or sub or "")
    if not identity:
        return None
    aliases = tuple(str(v) for v in (email, sub) if v and str(v) != identity)
    return User(identity, str(user.get("name") or identity), True, aliases)


def _proxy_user(auth: AuthSettings) -> User | None:
    peer = _peer_address()
    trusted = set(auth.trusted_proxies)
    # None is Streamlit's loopback peer; an address must be listed to be trusted.
    if not (peer is None and trusted & {"127.0.0.1", "::1", "localhost"}) and peer not in trusted:
        logger.warning("refused user header from untrusted peer %s", peer)
        return None
    value = (_request_headers().get(auth.header) or "").strip()
    if not value or len(value) > 200 or any(ch in value for ch in "\r\n\x00"):
        return None
    return User(value, value, True)


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
    return role_for(auth or auth_settings(), user.id, workspace, aliases=user.aliases)


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
        st.write("This clipcore workspace is shared by a team. Sign in to search and label.")
        if st.button("Sign in", type="primary", key="auth_sign_in"):
            st.login()
    else:
        st.write(
            "This app expects a reverse proxy in front of it to sign you in. Open it through the "
            "lab's address (not the app's port directly)."
        )


def account_sidebar(user: User, role: str | None, auth: AuthSettings | None = None) -> None:
    """Who is signed in, their role, and a sign-out button (OIDC)."""
    auth = auth or auth_settings()
    if auth.mode == "none":
        return
    st.sidebar.caption(f"Signed in as **{md(user.name)}** ({md(user.id)}), {role or 'no role'}")
    if auth.mode == "oidc" and st.sidebar.button("Sign out", key="auth_sign_out"):
        st.logout()
