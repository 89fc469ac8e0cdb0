"""Fixtures for browser tests: a real ``streamlit run app.py`` on a free port, and Chromium.

Every test here is marked ``e2e`` and skipped when Debian's Chromium is not installed.
The server uses the ``app_config`` fixture (tiny model, a copy of the demo workspace).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
STARTUP_TIMEOUT_S = 90.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder e2e, and skip them all without Chromium."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)"))


# Whether Streamlit runs a script now, as the page shows it: its status widget. Streamlit
# 1.67 draws a running icon (aria-label "Running...", no text) at once and a "Stop" button
# after 500 ms; older versions wrote "Running..." as text. Any of them means busy.
SCRIPT_RUNNING = """() => {
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (!status) return false;
  if (status.querySelector('[data-testid="stStatusWidgetRunningIcon"], [aria-label^="Running"]')) return true;
  return /running|\\bstop\\b/i.test(status.innerText);
}"""
# The page is settled: its main area is drawn, nothing in it is stale (greyed while a rerun
# replaces it), and no script runs. For ``page.wait_for_function``.
IDLE = f"""() => {{
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || main.querySelector('[data-stale="true"]')) return false;
  return !({SCRIPT_RUNNING})();
}}"""


def until_it_lands(page, act, outcome, *, undo=None, timeout: float = 90.0) -> None:
    """Do what a user does to a widget, as they would: once the page is settled (``IDLE``),
    ``act()`` (open a box, click a tab), then ``outcome()``, which waits up to a few seconds
    for the click's result and raises Playwright's TimeoutError or an AssertionError when it
    does not come. A rerun landing between the two redraws the widget (a list closed, the old
    tab kept), so ``undo()`` (if given) and do it again, until ``timeout``. The one mechanism
    behind ``choose``, ``open_tab`` and ``type_option``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while True:
        page.wait_for_function(IDLE, timeout=90_000)
        act()
        try:
            outcome()
            return
        except (AssertionError, PlaywrightTimeout):
            if time.monotonic() > deadline:
                raise
            if undo is not None:
                undo()


def select_box(page, label: str, kind: str = "stSelectbox"):
    """The select box (or ``kind="stMultiSelect"``) whose label is exactly ``label``."""
    return page.locator(f'[data-testid="{kind}"]').filter(has=page.get_by_text(label, exact=True))


def choose(page, label: str, option: str, *, exact: bool = True, kind: str = "stSelectbox", timeout: float = 90.0) -> None:
    """Pick ``option`` in the select box (or ``kind="stMultiSelect"``) labelled ``label``: open
    the box, click the option; opened again if a rerun closed its list (CI saw the option never
    come). ``exact`` applies to the option's name."""
    box = select_box(page, label, kind)
    wanted = page.get_by_role("option", name=option, exact=exact).first
    until_it_lands(page, box.click, lambda: wanted.click(timeout=5_000),
                   undo=lambda: page.keyboard.press("Escape"), timeout=timeout)


def open_tab(page, name: str, *, timeout: float = 90.0) -> None:
    """Show the main area's tab ``name``: click it, and wait for the outcome, the tab marked
    selected (a rerun that redraws the tab bar under the click can keep the old tab, so it
    is clicked again; the test then reads what the tab shows, never the tab shown before)."""
    from playwright.sync_api import expect

    tab = page.locator('[data-testid="stMain"] [data-testid="stTab"]', has_text=name)
    until_it_lands(page, lambda: tab.click(timeout=90_000),
                   lambda: expect(tab).to_have_attribute("aria-selected", "true", timeout=5_000), timeout=timeout)


def type_option(page, label: str, text: str, *, timeout: float = 90.0) -> None:
    """Type ``text`` into the select box labelled ``label`` (one that takes new options) and
    press Enter, typing into the box's own input (never into the page, whose keys are
    shortcuts); the outcome: the box holds ``text``. Opened and typed into again if a rerun
    closed its list between the click and the typing."""
    from playwright.sync_api import expect

    box = select_box(page, label)
    field = box.locator("input")

    def typed() -> None:
        field.press_sequentially(text, timeout=5_000)
        field.press("Enter", timeout=5_000)
        # chosen: the box holds the value, with its "Clear value" button (typed text alone has none)
        expect(box.get_by_role("button", name="Clear value")).to_be_visible(timeout=5_000)
        expect(field).to_have_value(text, timeout=5_000)

    until_it_lands(page, box.click, typed, undo=lambda: page.keyboard.press("Escape"), timeout=timeout)


def wait_until(predicate, what: str, timeout: float = 60.0):
    """Poll ``predicate`` until it returns something truthy (returned), or fail naming
    ``what``: waiting for a click to land in the store, not timing it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_streamlit(
    config: Path, *, port: int | None = None, log: Path | None = None, address: str | None = "127.0.0.1",
    extra_args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run app.py`` with ``CLIPCORE_CONFIG=config``; return (process, base URL)
    once ``/_stcore/health`` answers. The caller must call ``stop_streamlit``.

    ``address`` None leaves ``server.address`` to .streamlit/config.toml (the README's
    command); ``extra_args`` are more ``--section.option value`` flags."""
    port = port or free_port()
    env = dict(os.environ, CLIPCORE_CONFIG=str(config), PYTHONUNBUFFERED="1")
    out = open(log, "wb") if log else subprocess.DEVNULL
    where = ["--server.address", address] if address else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *where,
         "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra_args],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_streamlit(proc)
    raise RuntimeError(f"streamlit did not answer on {url} within {STARTUP_TIMEOUT_S:.0f}s")


def start_header_proxy(upstream: str, *args: str, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start tests/e2e/header_proxy.py in front of ``upstream`` (a base URL) with proxy
    ``args`` (``--set NAME=VALUE``, ``--add``, ``--forwarded-for``, ``--source``); return
    (process, the proxy's base URL). Stop it with ``stop_streamlit``."""
    host_port = upstream.split("://", 1)[-1].rstrip("/")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("header_proxy.py")), "--upstream", host_port, *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=open(log, "wb") if log else subprocess.DEVNULL,
        start_new_session=True, text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("listening on "):
        stop_streamlit(proc)
        raise RuntimeError(f"the header proxy did not start (it printed {line!r})")
    return proc, f"http://127.0.0.1:{int(line.split()[-1])}"


def write_config(folder: Path, workspace: Path, model: str, pretrained: str) -> Path:
    """A clipcore.toml in ``folder`` for one workspace and one model, without the tiny
    fallback (a measurement must fail rather than time another model)."""
    config = Path(folder) / "clipcore.toml"
    config.write_text(
        f'[model]\nname = "{model}"\npretrained = "{pretrained}"\nfallback_to_tiny = false\n\n'
        f'[workspaces.bench]\npath = "{Path(workspace).resolve()}"\n'
    )
    return config


def stop_streamlit(proc: subprocess.Popen) -> None:
    """Terminate the server or proxy (and wait; kill if it lingers)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def streamlit_server(app_config, tmp_path) -> Iterator[str]:
    """Base URL of a running app (tiny model, demo workspace copy); stopped afterwards."""
    proc, url = start_streamlit(app_config, log=tmp_path / "streamlit.log")
    try:
        yield url
    finally:
        stop_streamlit(proc)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()
