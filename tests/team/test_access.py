"""The identity a sign-in yields and the server's start-up guards (clipcore.team.access)."""

from __future__ import annotations

import pytest

from clipcore.config import AuthSettings
from clipcore.errors import PermissionDenied
from clipcore.team.access import oidc_identity, proxy_identity, proxy_peer_trusted, startup_refusal

LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"]


def test_oidc_identity_is_the_sub_by_default():
    # a sub spelled like the admin's email is still only a sub; the email claim is ignored
    assert oidc_identity({"sub": "lead@lab.org", "email": "x@y.org", "email_verified": True}, "sub") == "lead@lab.org"
    with pytest.raises(PermissionDenied, match="no subject id"):
        oidc_identity({"email": "a@b.org", "email_verified": True}, "sub")


def test_oidc_email_counts_only_when_verified():
    """Attack 1: `sub-mallory` with email lead@lab.org, email_verified false, signed in as the admin."""
    for verified in (False, None, "false", 1, "yes"):
        claims = {"sub": "sub-mallory", "email": "lead@lab.org", "email_verified": verified}
        with pytest.raises(PermissionDenied, match="not verified"):
            oidc_identity(claims, "email")
    with pytest.raises(PermissionDenied, match="not verified"):
        oidc_identity({"sub": "sub-mallory", "email": "lead@lab.org"}, "email")  # no claim at all
    assert oidc_identity({"sub": "s", "email": "lead@lab.org", "email_verified": True}, "email") == "lead@lab.org"
    assert oidc_identity({"sub": "s", "email": "lead@lab.org", "email_verified": "true"}, "email") == "lead@lab.org"
    with pytest.raises(PermissionDenied, match="no email"):
        oidc_identity({"sub": "lead@lab.org", "email_verified": True}, "email")  # never falls back to sub


@pytest.mark.parametrize(
    "values,why",
    [
        ([], "arrived 0 times"),
        (["lead@lab.org", "alice"], "arrived 2 times"),  # the client's value, then the proxy's
        (["lead@lab.org, alice"], "comma-separated"),  # the same, joined by the proxy
        (["  "], "gave no user header"),
        (["alice\r\nX-Evil: 1"], "one short line"),
        (["a" * 201], "one short line"),
    ],
)
def test_proxy_identity_refuses_anything_but_one_value(values, why):
    """Attack 2: with the header duplicated, the first value (the client's) won."""
    with pytest.raises(PermissionDenied, match=why):
        proxy_identity(values)


def test_proxy_identity_one_value():
    assert proxy_identity([" alice@lab.org "]) == "alice@lab.org"


def test_proxy_peer_trusted_compares_addresses():
    assert proxy_peer_trusted(None, ("127.0.0.1", "::1"))  # Streamlit's loopback peer
    assert not proxy_peer_trusted(None, ("10.0.0.5",)) and not proxy_peer_trusted(None, ("127.0.0.2",))
    assert proxy_peer_trusted("10.0.0.5", ("10.0.0.5",))
    assert proxy_peer_trusted("::ffff:0:1", ("::ffff:0:1",)) and proxy_peer_trusted("0:0::1", ("::1",))
    assert not proxy_peer_trusted("192.0.2.7", ("127.0.0.1", "::1"))
    assert not proxy_peer_trusted("not-an-ip", ("127.0.0.1",))


NONE, PROXY, OIDC = AuthSettings(), AuthSettings(mode="proxy", trusted_proxy=True), AuthSettings(mode="oidc")


def test_mode_none_needs_loopback_and_a_host_list():
    """Attack 3: with any Host accepted, a rebinding page drives the admin-for-everyone app."""
    assert startup_refusal(NONE, address="127.0.0.1", allowed_hosts=LOOPBACK_HOSTS, env={}) is None
    assert "Anyone who can reach it" in startup_refusal(NONE, address="0.0.0.0", allowed_hosts=LOOPBACK_HOSTS, env={})
    assert "Anyone who can reach it" in startup_refusal(NONE, address="", allowed_hosts=LOOPBACK_HOSTS, env={})
    for hosts in ([], ["*"], [" "], ["localhost", "*"]):
        why = startup_refusal(NONE, address="127.0.0.1", allowed_hosts=hosts, env={})
        assert why and "server.allowedHosts" in why and "DNS rebinding" in why
    # with sign-in on, a rebinding page has no session cookie and no proxy header
    assert startup_refusal(OIDC, address="0.0.0.0", allowed_hosts=[], env={}) is None


def test_proxy_mode_needs_the_server_to_keep_the_peer_address():
    """Attack 2: uvicorn rewrote the local proxy's address from X-Forwarded-For."""
    for env in ({}, {"FORWARDED_ALLOW_IPS": "127.0.0.1"}, {"FORWARDED_ALLOW_IPS": "*"}):
        why = startup_refusal(PROXY, address="127.0.0.1", allowed_hosts=LOOPBACK_HOSTS, env=env)
        assert why and "FORWARDED_ALLOW_IPS" in why
    assert startup_refusal(PROXY, address="127.0.0.1", allowed_hosts=LOOPBACK_HOSTS, env={"FORWARDED_ALLOW_IPS": ""}) is None
