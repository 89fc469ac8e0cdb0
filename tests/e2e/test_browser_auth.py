"""Sign-in in a real browser: the OIDC round trip against a mock identity provider on
loopback (oidc-provider-mock), two people labelling at once with roles, the proxy
header, and the README's command listening on 127.0.0.1 only."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from clipcore.catalog import labels as lbl
from tests.e2e.conftest import choose, free_port, start_header_proxy, start_streamlit, stop_streamlit, wait_until
from tests.gridview import GRID_FIGURES_JS, assign_button, tiles_now
from tests.helpers import app_workspace

# Tiles drawn by the grid component (inside its frame), 0 while the app reruns.
TILE_COUNT = "() => { const figs = %s; return figs ? figs.length : 0; }" % GRID_FIGURES_JS

LEAD, ALICE, BOB = "lead@lab.org", "alice@lab.org", "bob@lab.org"
ROLES = f'\n[auth]\nmode = "oidc"\nidentity = "email"\nadmins = ["{LEAD}"]\nannotators = ["{ALICE}", "{BOB}"]\n'


@pytest.fixture
def oidc_app(app_config, tmp_path):
    """The app in OIDC mode against oidc-provider-mock, both on localhost (Authlib refuses
    plain HTTP to 127.0.0.1 but allows localhost). Yields the app's base URL."""
    from oidc_provider_mock import User, run_server_in_thread

    users = [
        User(sub=f"sub-{e.split('@')[0]}", claims={"email": e, "email_verified": True, "name": e.split("@")[0].title()})
        for e in (LEAD, ALICE, BOB)
    ]
    # issue 19: anyone can type the lead's address into a provider profile; it stays unverified
    users.append(User(sub="sub-mallory", claims={"email": LEAD, "email_verified": False, "name": "Mallory"}))
    with run_server_in_thread(port=0, user_claims=users) as provider:
        port = free_port()
        secrets_file = tmp_path / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_hex(16)}"\n'
            'client_id = "clipcore-test"\nclient_secret = "not-a-secret"\n'
            f'server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"\n'
        )
        app_config.write_text(app_config.read_text() + ROLES)
        proc, _ = start_streamlit(app_config, port=port, log=tmp_path / "streamlit.log", extra_args=("--secrets.files", str(secrets_file)))
        try:
            yield f"http://localhost:{port}"
        finally:
            stop_streamlit(proc)


def _sign_in(browser, url: str, sub: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/label")
    page.get_by_role("heading", name="Sign in").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stMetric"]').count() == 0  # nothing but the sign-in page
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=sub, exact=True).click(timeout=60_000)  # the mock provider's form
    page.get_by_text("Signed in as").first.wait_for(timeout=60_000)
    return context, page


def _goto_label(page, url: str) -> None:
    page.goto(f"{url}/label")
    assign_button(page).wait_for(timeout=60_000)
    page.wait_for_function(f"() => ({TILE_COUNT})() > 0", timeout=60_000)




def _revert(page, batch_id: str) -> None:
    page.get_by_text("History", exact=True).click()
    box = page.get_by_role("textbox", name="Batch id to revert")
    box.wait_for(timeout=60_000)
    box.fill(batch_id)
    box.press("Enter")
    page.get_by_role("button", name="Revert batch").click()


@pytest.mark.e2e
def test_two_people_sign_in_label_at_once_and_only_the_admin_reverts_a_colleague(oidc_app, browser, app_config):
    ws = app_workspace(app_config)
    sessions = {sub: _sign_in(browser, oidc_app, sub) for sub in ("sub-alice", "sub-bob")}
    try:
        for sub, (_, page) in sessions.items():
            _goto_label(page, oidc_app)
            assert page.get_by_label("Your name").count() == 0  # identity comes from the provider
            choose(page, "Per page", "12")
            page.wait_for_function(f"() => ({TILE_COUNT})() === 12", timeout=60_000)
        _, alice = sessions["sub-alice"]
        _, bob = sessions["sub-bob"]
        # Both pages show the same 12 images; alice assigns first, then bob, from his older page.
        assign_button(alice).click()
        wait_until(lambda: len(lbl.list_batches(ws)) == 1, "alice's batch")
        assign_button(bob).click()
        bob.get_by_text(re.compile("12 images were labelled by alice\u200b?@lab.org since this page was drawn")).wait_for(timeout=60_000)
        assert len(lbl.list_batches(ws)) == 1  # nothing of alice's was overwritten
        # His next page: twelve images nobody has labelled (his old grid also had twelve, and
        # an Assign pressed on it before it is replaced would be refused again).
        taken = set(lbl.current_labels(ws))
        wait_until(lambda: len(t := tiles_now(bob)) == 12 and not set(t) & taken, "bob's next page")
        assign_button(bob).click()
        batches = wait_until(lambda: len(lbl.list_batches(ws)) == 2 and lbl.list_batches(ws), "bob's batch")
        by = {b["annotator"]: b["batch_id"] for b in batches}
        assert set(by) == {ALICE, BOB}  # each batch carries the provider's identity, nobody else's
        assert len(lbl.current_labels(ws)) == 24

        _revert(alice, by[BOB])
        alice.get_by_text(re.compile("only an admin can revert")).wait_for(timeout=60_000)
        assert not any(b["reverted_at"] for b in lbl.list_batches(ws))

        lead_ctx, lead = _sign_in(browser, oidc_app, "sub-lead")
        try:
            _goto_label(lead, oidc_app)
            _revert(lead, by[BOB])
            wait_until(lambda: any(b["reverted_by"] == LEAD for b in lbl.list_batches(ws)), "the admin's revert")
        finally:
            lead_ctx.close()

        alice.get_by_role("button", name="Sign out").click()
        alice.get_by_role("button", name="End session").click(timeout=60_000)  # the provider's own sign-out
        alice.goto(oidc_app)
        alice.get_by_role("heading", name="Sign in").wait_for(timeout=60_000)
    finally:
        for context, _ in sessions.values():
            context.close()


def _proxy_visit(browser, url: str) -> tuple[str, bool]:
    """Open ``url`` in a fresh context; (the sidebar's text once signed in or refused,
    whether the sign-in page shows)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(url)
        signed_in = page.get_by_text("Signed in as").first
        sign_in = page.get_by_role("heading", name="Sign in")
        signed_in.or_(sign_in).wait_for(timeout=60_000)
        if sign_in.is_visible():
            assert page.get_by_text("reverse proxy").count() >= 1 and page.locator('[data-testid="stMetric"]').count() == 0
            return "", True
        return page.locator('[data-testid="stSidebar"]').inner_text().replace("\u200b", ""), False
    finally:
        context.close()


@pytest.mark.e2e
def test_an_unverified_email_signs_nobody_in(oidc_app, browser):
    """Issue 19, attack 1: `sub-mallory` with the lead's email, unverified, was the admin."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{oidc_app}/label")
        page.get_by_role("button", name="Sign in").click(timeout=60_000)
        page.get_by_role("button", name="sub-mallory", exact=True).click(timeout=60_000)
        page.get_by_text(re.compile("has not verified the email")).wait_for(timeout=60_000)
        assert page.get_by_text("Signed in as").count() == 0
        assert page.locator('[data-testid="stMetric"]').count() == 0 and assign_button(page).count() == 0
    finally:
        context.close()


def _websocket_handshake(port: int, host: str, origin: str) -> str:
    """The status line the app answers to a WebSocket upgrade of its stream with these
    ``Host`` and ``Origin`` headers (what a rebinding page's browser would send)."""
    import base64
    import socket

    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: streamlit\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


@pytest.mark.e2e
def test_a_rebinding_host_cannot_open_the_apps_websocket(app_config, tmp_path):
    """Issue 19, attack 3: a WebSocket with Host and Origin both `rebind.evil.example:PORT`
    was accepted (101); in mode none everyone is admin. The README's command, as is."""
    port = free_port()
    proc, _ = start_streamlit(app_config, port=port, log=tmp_path / "streamlit.log", address=None)
    try:
        evil = f"rebind.evil.example:{port}"
        assert " 101 " not in _websocket_handshake(port, evil, f"http://{evil}") + " "
        for name in ("127.0.0.1", "localhost"):
            assert " 101 " in _websocket_handshake(port, f"{name}:{port}", f"http://{name}:{port}") + " "
    finally:
        stop_streamlit(proc)
    # A team adds its own name, as the README says; the rebinding name stays out.
    port = free_port()
    proc, _ = start_streamlit(app_config, port=port, log=tmp_path / "streamlit-team.log",
                              extra_args=("--server.allowedHosts", "clipcore.lab.org"))
    try:
        team = f"clipcore.lab.org:{port}"
        assert " 101 " in _websocket_handshake(port, team, f"http://{team}") + " "
        assert " 101 " not in _websocket_handshake(port, evil, f"http://{evil}") + " "
    finally:
        stop_streamlit(proc)


@pytest.mark.e2e
def test_proxy_mode_trusts_the_header_from_the_local_proxy_only(app_config, browser, tmp_path, monkeypatch):
    """Proxy mode as deployed: a reverse-proxy process on loopback (HTTP and WebSocket)
    sets the user header; the browser talks to the proxy, never to the app's port. The
    server is started as the README says, FORWARDED_ALLOW_IPS="" (issue 19)."""
    app_config.write_text(app_config.read_text() + '\n[auth]\nmode = "proxy"\ntrusted_proxy = true\n')
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")
    proc, url = start_streamlit(app_config, log=tmp_path / "streamlit.log")
    proxies = []

    def proxy(*args: str) -> str:
        p, proxy_url = start_header_proxy(url, *args, log=tmp_path / f"proxy-{len(proxies)}.log")
        proxies.append(p)
        return proxy_url

    try:
        sidebar, refused = _proxy_visit(browser, proxy("--set", "X-Forwarded-User=carol@lab.org"))
        assert not refused and "carol@lab.org" in sidebar
        # The same proxy without the header: nobody is signed in.
        assert _proxy_visit(browser, proxy())[1]
        # The header from a peer that is not in trusted_proxies (127.0.0.2 is loopback,
        # but only 127.0.0.1 and ::1 are trusted by default) counts for nothing.
        untrusted = proxy("--set", "X-Forwarded-User=carol@lab.org", "--source", "127.0.0.2")
        assert _proxy_visit(browser, untrusted)[1]
        # Issue 19, attack 2: nginx's usual X-Forwarded-For (a remote client's address)
        # no longer makes the server judge that address instead of the proxy's ...
        sidebar, refused = _proxy_visit(browser, proxy("--set", "X-Forwarded-User=carol@lab.org", "--set", "X-Forwarded-For=203.0.113.9"))
        assert not refused and "carol@lab.org" in sidebar
        # ... nor lets an untrusted peer pass for the trusted one by naming it.
        spoof = proxy("--set", "X-Forwarded-User=carol@lab.org", "--set", "X-Forwarded-For=127.0.0.1", "--source", "127.0.0.2")
        assert _proxy_visit(browser, spoof)[1]
        # A client's own header kept by a sloppy proxy that appends its user: two values,
        # refused (the client's came first and used to win). The outer proxy plays the
        # client's request; the inner one is the sloppy proxy.
        sloppy = proxy("--add", "X-Forwarded-User=carol@lab.org")
        p, client = start_header_proxy(sloppy, "--set", "X-Forwarded-User=lead@lab.org", log=tmp_path / "client.log")
        proxies.append(p)
        assert _proxy_visit(browser, client)[1]
        # Trusting that address (the config is read on every run) lets the same proxy in:
        # the refusal above was the peer check, not a broken proxy.
        app_config.write_text(app_config.read_text() + 'trusted_proxies = ["127.0.0.2"]\n')
        sidebar, refused = _proxy_visit(browser, untrusted)
        assert not refused and "carol@lab.org" in sidebar
    finally:
        for p in proxies:
            stop_streamlit(p)
        stop_streamlit(proc)


def _listeners(port: int) -> list[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6), hex as the kernel writes them."""
    found = []
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append(addr)
    return found


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_the_readme_command_listens_on_loopback_only(app_config, tmp_path):
    port = free_port()
    proc, _ = start_streamlit(app_config, port=port, log=tmp_path / "streamlit.log", address=None)
    try:
        addrs = _listeners(port)
    finally:
        stop_streamlit(proc)
    assert addrs, "nothing listens on the port"
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    assert set(addrs) <= loopback, addrs
