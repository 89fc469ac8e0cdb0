"""Who is at the door: the identity a sign-in yields, and what the server must be started
with before it lets anyone in (docs/SECURITY.md).

Pure functions over plain values (claims, header values, options, environment), so the
app's adapter (``ui.core.auth``) stays thin and every rule here has a unit test.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping, Sequence

from clipcore.config import AuthSettings
from clipcore.errors import PermissionDenied

MAX_IDENTITY_CHARS = 200
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _clean_identity(value: Any, what: str) -> str:
    text = str(value if value is not None else "").strip()
    if not text:
        raise PermissionDenied(f"the sign-in gave no {what}.")
    if len(text) > MAX_IDENTITY_CHARS or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise PermissionDenied(f"the sign-in's {what} is not one short line of text; it is refused.")
    return text


def _is_true(value: Any) -> bool:
    # Some providers (AWS Cognito) send the claim as the string "true".
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def oidc_identity(claims: Mapping[str, Any], claim: str) -> str:
    """The one identity an OIDC sign-in yields: the ``sub`` claim, or (``claim="email"``)
    the email, only when the provider says ``email_verified``.

    Args:
        claims: the ID token's claims (``st.user``).
        claim: ``"sub"`` or ``"email"`` (``[auth] identity``).
    Raises:
        PermissionDenied: the claim is missing or malformed, or the email is not verified
            (anyone can type any address into a provider's profile).
    """
    if claim == "email":
        email = _clean_identity(claims.get("email"), "email")
        if not _is_true(claims.get("email_verified")):
            raise PermissionDenied(
                f"your identity provider has not verified the email {email}; this app accepts verified emails only. "
                "Verify it with the provider, or ask an admin."
            )
        return email
    if claim == "sub":
        return _clean_identity(claims.get("sub"), "subject id (sub)")
    raise ValueError(f"unknown identity claim {claim!r}; expected 'sub' or 'email'.")


def proxy_identity(values: Sequence[str]) -> str:
    """The user from the proxy's header values: exactly one value, without commas.

    A client that sends the header itself and a proxy that appends (rather than sets) it
    arrive as two values or one comma-joined value; taking either part would let the
    client pick who it is, so both are refused.

    Raises:
        PermissionDenied: no value, several, a comma-joined one, or a malformed one.
    """
    if len(values) != 1:
        raise PermissionDenied(
            f"the user header arrived {len(values)} times; the proxy must set it (replace any the client sent), once."
        )
    value = _clean_identity(values[0], "user header")
    if "," in value:
        raise PermissionDenied("the user header holds several comma-separated values; the proxy must set it, not append to it.")
    return value


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or IP address, IPv6 with or without brackets) is loopback."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxy_peer_trusted(peer: str | None, trusted: Sequence[str]) -> bool:
    """Whether the TCP peer of a request is one of the ``trusted_proxies``.

    ``peer`` None is Streamlit's spelling of a loopback peer. Addresses are compared as
    IP addresses (``::1`` and ``0:0::1`` are the same)."""
    wanted = set()
    for t in trusted:
        try:
            wanted.add(ipaddress.ip_address(t))
        except ValueError:
            continue
    if peer is None:  # 127.0.0.1 or ::1 (Streamlit hides which); 127.0.0.2 arrives as itself
        return bool(wanted & {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})
    try:
        return ipaddress.ip_address(peer.strip("[]")) in wanted
    except ValueError:
        return False


def startup_refusal(
    auth: AuthSettings, *, address: str | None, allowed_hosts: Sequence[str], env: Mapping[str, str]
) -> str | None:
    """Why the server must not serve anyone as started, or None.

    - mode ``none`` (no sign-in, everyone admin) on an address other people can reach;
    - mode ``none`` without a host allow-list: a web page the user visits could rebind its
      own name to 127.0.0.1 and drive the app (DNS rebinding);
    - mode ``proxy`` while the server rewrites the client address from
      ``X-Forwarded-For`` (uvicorn's ``FORWARDED_ALLOW_IPS``): the app would judge the
      address the proxy wrote instead of the proxy's own.

    Args:
        address: ``server.address``. allowed_hosts: ``server.allowedHosts``.
        env: the server's environment (uvicorn read ``FORWARDED_ALLOW_IPS`` from it).
    """
    if auth.mode == "none":
        if not is_loopback(address):
            shown = address or "every interface (server.address is empty)"
            return (
                f'Sign-in is off ([auth] mode = "none") but the app listens on {shown}. Anyone who can reach it '
                "would be admin. Start it on 127.0.0.1 (as .streamlit/config.toml does), or turn on sign-in: "
                '[auth] mode = "oidc" or "proxy" in clipcore.toml (README, "Run it for a team").'
            )
        hosts = [h.strip() for h in allowed_hosts if h.strip()]
        if not hosts or "*" in hosts:
            return (
                f"Sign-in is off ([auth] mode = \"none\") and server.allowedHosts is {hosts or 'empty'}: any web page "
                "could reach this app through a name that points at 127.0.0.1 (DNS rebinding). Set "
                'server.allowedHosts = ["localhost", "127.0.0.1", "::1"] (as .streamlit/config.toml does).'
            )
    if auth.mode == "proxy":
        forwarded = env.get("FORWARDED_ALLOW_IPS")
        if forwarded is None or forwarded.strip():
            shown = "unset (uvicorn's default: 127.0.0.1,::1)" if forwarded is None else repr(forwarded)
            return (
                "Proxy sign-in needs the server to see the proxy's own address, but the server rewrites it from "
                f"X-Forwarded-For (FORWARDED_ALLOW_IPS is {shown}). Start the app as "
                'FORWARDED_ALLOW_IPS="" streamlit run app.py (README, "Run it for a team").'
            )
    return None
