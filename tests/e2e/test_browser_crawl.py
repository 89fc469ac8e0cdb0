"""The crawler (issue 18, "the test that keeps it so"): the real app in Chromium at 1440x900,
signed in as an admin (auth mode "none"), on the demo collection and on an empty one. On
every page it finds the controls in the DOM (nothing here names a button), and presses each
enabled one: tabs, radio views, expanders, select boxes, check boxes and toggles, number
steppers, buttons, form submits, downloads, one tile per thumbnail grid. After each press it
waits for the rerun and for any job the press started (the job widget's progress bar goes
away), then records what it saw. The crawl runs once per collection (a module fixture, on a
scratch copy of the workspace); the tests below each assert one kind of finding:

* an exception box, "Component Error" (also inside a component's frame), a console error;
* an error box (the admin, on these collections, is shown none);
* a message in CLI language (``python -m``, a ``--flag``, ``sha256-``, a snake_case key);
* a control that does nothing: the page's text, the URL, the widgets' state and the
  workspace's files are the same before and after the press.

Error boxes that a press is right to cause (a form sent empty) are in ``EXPECTED_ERRORS``; bugs
found and not fixed yet are in ``KNOWN_BUGS``, each its own strict xfail.

Left out, and why:

* "Download model weights" (Home): needs the network.
* "Start baseline job" (Evaluate): fine-tunes a network for minutes on CPU.
* "Cancel" on a running job: the crawler waits for every job it starts instead. ("Retry"
  on a failed job is pressed, and waited for to its end like any job a press starts: the
  demo's scratch copy holds one failed embed job for it; Home's own presses start newer
  jobs first, so it is pressed in Evaluate's "Embed with another model".)
* "View in the library's viewer": a link to another site (IIIF collections only).
* The sidebar's collection picker (the crawl opens each collection by its URL), and
  text boxes, text areas, sliders and multiselects: what to type is the page's own test's
  business; the crawler only types an annotator name where the Label page asks for one.
* "Compute zero-shot / few-shot scores" and their job: shown only on collections above
  ``[limits] in_page_max`` (the demo is scored inside the page); test_stored_scores.py
  presses them in AppTest.
* Grids: one tile click per grid, not every tile; the file uploader's button (it opens
  the system's file chooser).

Budget (issue 18): at most ~8 minutes on 2 CI cores for both collections.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, IDLE, SCRIPT_RUNNING, start_streamlit, stop_streamlit
from tests.e2e.test_browser_walk import ERRORS

COLLECTIONS = ["demo", "empty"]
SKIP_LABELS = re.compile(r"^(Download model weights|Start baseline job|Cancel|View in the library's viewer)$")
# Error boxes an admin is right to see after the crawler's presses: a form submitted as it
# stands, empty or with its defaults, is refused with what to fill in.
EXPECTED_ERRORS = [
    (re.compile(r"a collection needs a name"), "New collection submitted empty"),
    (re.compile(r"Pretrained tag or Local checkpoint: a random-init"), "Embed with another model submitted with its default, untrained choice"),
    (re.compile(r"the new name of the prompt set is empty"), "Rename pressed with its name box empty"),
    (re.compile(r"a prompt set needs a name"), "Duplicate pressed with its name box empty"),
    (re.compile(r"The last embed job failed: the disk was full"), "the failed job the crawl retries (_failed_embed_job)"),
]
# Opened at a page's own URL (/label), Streamlit's frontend first looks for its server one
# level down (/label/_stcore/health, 404) before the root: its own probe, not the app's.
BASE_PATH_PROBE = re.compile(r"/[a-z_]+/_stcore/(health|host-config)$")
# No spinner or skeleton, and no script running (conftest's SCRIPT_RUNNING, which IDLE uses too).
NO_SPINNER = f"""() => {{
  if (document.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"]')) return false;
  return !({SCRIPT_RUNNING})();
}}"""
HAS_CONTENT = """() => { const m = document.querySelector('[data-testid="stMain"]'); return !!m && m.innerText.trim().length > 0; }"""
# Bugs the crawler found that are bigger than a small fix: each has its own strict xfail
# below (it fails the day the bug is fixed, so the entry is removed then), and the error box
# is kept out of the general check.
# name -> (pattern of its error box, what is wrong); empty: every bug the crawler found is
# fixed (the last, Zero-shot 'New set' showing "a classifier needs at least 2 classes; got
# 0", now asks for classes: test_zero_shot_page.py::test_a_new_or_one_class_set_asks_...).
KNOWN_BUGS: dict[str, tuple[re.Pattern, str]] = {}
DIALOG_JS = """() => [...document.querySelectorAll('[role="dialog"]')].some(d => d.checkVisibility())"""
MAX_PRESSES_PER_PAGE = 60  # a guard against a page that keeps growing new controls
CLI_WORDS = [
    (re.compile(r"python -[mc]\b"), "a python command"),
    # --flag, but not a CSS custom property (--ag-border: / var(--ag-border, ...) a grid styles with)
    (re.compile(r"(?<![\w(-])--[a-z][a-z-]+(?![\w-]*\s*[:,)])"), "a command-line flag"),
    (re.compile(r"sha256-"), "a weights hash"),
    # snake_case, but not in a file name (img_001.jpg) or a path
    # (a clipcore.toml setting named where the page says how to change it, "the allowed_roots
    # line of the [app] section", is the file's own word, not an internal key)
    (re.compile(r"(?<![\w./-])[a-z]+(?:_[a-z0-9]+)+\b(?![./\w-])(?! line of the \[)"), "an internal key"),
]

# Every control in the main area (and the Label page's name box), visible and tagged with a
# stable signature ``kind|label#n``: the n-th of that kind and label (digits folded, so
# "Accept these 12 images" stays one control while its count changes).
CONTROLS_JS = r"""() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return [];
  const seen = {};
  const out = [];
  const fold = s => (s || '').replace(/keyboard_arrow_\w+|\s+/g, ' ').trim().replace(/[0-9][0-9,.]*/g, '#').slice(0, 80);
  const visible = e => e.checkVisibility ? e.checkVisibility() : !!e.offsetParent;
  const add = (el, kind, label, extra) => {
    if (!visible(el)) return;
    const base = kind + '|' + fold(label);
    seen[base] = (seen[base] || 0) + 1;
    const sig = base + '#' + seen[base];
    el.setAttribute('data-crawl', sig);
    out.push(Object.assign({sig, kind, label: fold(label), disabled: !!(el.disabled || el.getAttribute('aria-disabled') === 'true')}, extra || {}));
  };
  for (const el of main.querySelectorAll('*')) {
    const tid = el.getAttribute('data-testid') || '';
    if (tid === 'stTab') add(el, 'tab', el.innerText);
    else if (tid === 'stExpander') {
      const d = el.querySelector('details'); const s = el.querySelector('summary');
      if (d && s && !d.open) add(s, 'expander', s.innerText);
    } else if (tid === 'stRadio') {
      const group = (el.querySelector('[data-testid="stWidgetLabel"]') || {}).innerText || '';
      for (const opt of el.querySelectorAll('[role="radiogroup"] label')) {
        const input = opt.querySelector('input');
        if (input && !input.checked) add(opt, 'radio', group + ': ' + opt.innerText, {disabled: input.disabled});
      }
    } else if (tid === 'stCheckbox') {
      const lab = el.querySelector('label');
      const input = el.querySelector('input');
      if (lab) add(lab, 'check', lab.innerText, {disabled: !!(input && input.disabled)});
    } else if (tid === 'stSelectbox') {
      const input = el.querySelector('input');
      const label = (el.querySelector('[data-testid="stWidgetLabel"]') || {}).innerText || '';
      add(input || el, 'select', label, {disabled: !!(input && input.disabled)});
    } else if (tid === 'stNumberInputStepUp') add(el, 'step', (el.closest('[data-testid="stNumberInput"]') || el).innerText);
    else if (tid.startsWith('stBaseButton') && el.tagName === 'BUTTON' && !/elementToolbar|header/i.test(tid)
             && !el.closest('[data-testid="stFileUploader"]')) {
      add(el, el.closest('[data-testid="stDownloadButton"]') ? 'download' : 'button', el.innerText || el.getAttribute('aria-label'));
    } else if (el.tagName === 'IFRAME' && /clipcore_grid/.test(el.title || '')) add(el, 'grid', 'tile');
  }
  return out;
}"""

# What the page shows and holds now: its text (main, sidebar, components' frames), the URL,
# and the state of every widget (values, checked, selected tab, open expanders).
# The page's visible text (main area, sidebar, dialogs; components' frames), without the
# names of the icons drawn with an icon font ("keyboard_arrow_right" is a glyph, not words).
TEXT_JS = r"""() => {
  const icons = new Set([...document.querySelectorAll('[data-testid="stIconMaterial"], .material-symbols-rounded')].map(e => e.innerText.trim()).filter(Boolean));
  const strip = t => t.split(/(\s+)/).filter(w => !icons.has(w.trim())).join('');
  const parts = [...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"], [role="dialog"]')].map(e => strip(e.innerText));
  for (const f of document.querySelectorAll('iframe')) {
    try { if (f.contentDocument && f.contentDocument.body) parts.push(f.contentDocument.body.innerText); } catch (e) {}
  }
  return parts.join('\n');
}"""

# What the page shows and holds now: its text, the URL, and the state of every widget
# (values, checked, selected tab, open expanders, the grids' selections).
FINGERPRINT_JS = r"""() => {
  const parts = [location.href, (""" + TEXT_JS + r""")()];
  for (const f of document.querySelectorAll('iframe')) {
    try { if (f.contentDocument && f.contentDocument.body) parts.push(f.contentDocument.body.innerHTML); } catch (e) {}
  }
  for (const i of document.querySelectorAll('input, textarea')) parts.push(i.value + (i.checked ? '1' : '0'));
  for (const t of document.querySelectorAll('[role="tab"]')) parts.push(t.getAttribute('aria-selected'));
  for (const d of document.querySelectorAll('details')) parts.push(d.open ? 'o' : 'c');
  return parts.join('\u241e');
}"""

ERROR_BOXES_JS = """() => [...document.querySelectorAll('[data-testid="stAlertContentError"]')]
  .filter(e => e.checkVisibility()).map(e => e.innerText.slice(0, 300))"""

JOB_RUNNING_JS = """() => !!document.querySelector('[data-testid="stMain"] [data-testid="stProgress"]')"""


@dataclass
class Crawl:
    """What the crawl of one collection saw: each finding is (page, control, what)."""

    collection: str
    pressed: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    cli_words: list[tuple[str, str, str]] = field(default_factory=list)
    cli_seen: set[str] = field(default_factory=set)
    errors_seen: set[str] = field(default_factory=set)
    expected_errors: list[tuple[str, str, str]] = field(default_factory=list)
    known: list[tuple[str, str, str]] = field(default_factory=list)
    dead: list[tuple[str, str, str]] = field(default_factory=list)
    console: list[tuple[str, str, str]] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _store_fingerprint(root: Path) -> str:
    h = hashlib.sha1()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            try:
                st = os.stat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _settle(page) -> None:
    page.wait_for_timeout(250)
    page.wait_for_function(IDLE, timeout=90_000)
    page.wait_for_function(NO_SPINNER, timeout=120_000)  # "Loading the CLIP model..." is no end
    if page.evaluate(JOB_RUNNING_JS):  # a job started: wait for the widget's bar to go
        page.wait_for_function(f"() => !({JOB_RUNNING_JS})()", timeout=180_000, polling=500)
        page.wait_for_timeout(500)
        page.wait_for_function(IDLE, timeout=90_000)
    page.wait_for_timeout(500)  # components mount after the script run ends
    page.wait_for_function(IDLE, timeout=90_000)


def _press(page, control: dict) -> bool:
    """Press ``control``; False when there was nothing to choose (a select with one option)."""
    loc = page.locator(f'[data-crawl="{control["sig"]}"]').first
    kind = control["kind"]
    if kind == "select":  # open it and take another option; one with a single option is left
        options = page.locator('[role="option"]')
        for attempt in range(3):  # a click during a rerun's last paint may not open it
            if attempt:
                page.keyboard.press("Escape")
                _settle(page)
            loc.click()
            try:
                options.first.wait_for(timeout=10_000)
                break
            except Exception:  # noqa: BLE001 - tried again; the third failure is a finding
                if attempt == 2:
                    raise
        others = [i for i in range(options.count()) if options.nth(i).get_attribute("aria-selected") != "true"]
        if not others:
            page.keyboard.press("Escape")
            return False
        options.nth(others[0]).click()
    elif kind == "grid":
        frame = loc.content_frame
        frame.locator("figure[data-image-id]").first.wait_for(timeout=30_000)
        frame.locator("figure[data-image-id]").first.scroll_into_view_if_needed()
        frame.locator("figure[data-image-id] img").first.click(force=True)
    elif kind == "download":
        with page.expect_download(timeout=30_000):
            loc.click()
    else:
        loc.click()
    return True


def _check(page, crawl: Crawl, where: str, what: str, console: list[str]) -> None:
    for e in page.evaluate(ERRORS):
        crawl.exceptions.append((where, what, e))
    for e in page.evaluate(ERROR_BOXES_JS):
        if e in crawl.errors_seen:  # an error stays on screen over later presses: say it once
            continue
        crawl.errors_seen.add(e)
        why = next((why for pattern, why in EXPECTED_ERRORS if pattern.search(e)), None)
        bug = next((name for name, (pattern, _) in KNOWN_BUGS.items() if pattern.search(e)), None)
        if bug:
            crawl.known.append((where, what, bug))
        else:
            (crawl.expected_errors if why else crawl.errors).append((where, what, e + (f" (expected: {why})" if why else "")))
    text = page.evaluate(TEXT_JS)
    for pattern, name in CLI_WORDS:
        for m in pattern.finditer(text):
            snippet = text[max(0, m.start() - 50): m.end() + 50].replace("\n", " ")
            if m.group(0) not in crawl.cli_seen:  # each word once, where it was first seen
                crawl.cli_seen.add(m.group(0))
                crawl.cli_words.append((where, what, f"{name}: {m.group(0)!r} in ...{snippet}..."))
    while console:
        crawl.console.append((where, what, console.pop(0)))


def _state(page, ws_root: Path) -> tuple[str, str]:
    return page.evaluate(FINGERPRINT_JS), _store_fingerprint(ws_root)


def _close_dialog(page) -> None:
    if page.evaluate(DIALOG_JS):
        page.keyboard.press("Escape")
        page.wait_for_function(f"() => !({DIALOG_JS})()", timeout=30_000)
        _settle(page)


def _try(page, crawl: Crawl, control: dict, url: str, where: str, ws_root: Path, console: list[str]) -> bool | str | None:
    """Press ``control``; whether anything changed (None: it could not be pressed; "single":
    a select with nothing else to choose)."""
    before = _state(page, ws_root)
    try:
        if not _press(page, control):
            _settle(page)
            return "single"
        _settle(page)
    except Exception as exc:  # noqa: BLE001 - recorded as a finding, and the crawl goes on
        crawl.exceptions.append((where, control["sig"], f"could not press: {type(exc).__name__}: {str(exc)[:200]}"))
        page.goto(url)
        _settle(page)
        return None
    crawl.pressed.append((where, control["sig"]))
    changed = control["kind"] == "download" or _state(page, ws_root) != before
    _check(page, crawl, where, control["sig"], console)
    _close_dialog(page)
    if page.url.split("?")[0] != url.split("?")[0]:
        page.goto(url)  # a press that led elsewhere: come back to finish this page
        _settle(page)
    return changed


def _crawl_page(page, crawl: Crawl, url: str, where: str, ws_root: Path, console: list[str]) -> None:
    page.goto(url)
    page.wait_for_function(HAS_CONTENT, timeout=90_000)  # an empty collection's page has no title
    _settle(page)
    name_box = page.locator('[data-testid="stSidebar"] input[aria-label="Your name"]')
    if name_box.count():  # the Label page asks who labels (auth mode none)
        name_box.fill("Ada")
        name_box.press("Enter")
        _settle(page)
    _check(page, crawl, where, "(opened)", console)
    done: set[str] = set()
    # A press that changes nothing may be right for the state the page is in ("Select all"
    # with all selected): it is pressed once more after another press changed the page.
    pending: set[str] = set()  # did nothing once; waits for the page to change
    armed: set[str] = set()  # did nothing once, and the page changed since: press again
    dead: dict[str, str] = {}
    opened: Counter[str] = Counter()
    # leaves first (buttons, boxes), then what opens more (expanders), then views and tabs
    order = {"button": 0, "download": 0, "check": 0, "step": 0, "grid": 1, "select": 2, "expander": 3, "radio": 4, "tab": 5}
    for _ in range(MAX_PRESSES_PER_PAGE):
        visible = {c["sig"]: c for c in page.evaluate(CONTROLS_JS) if not c["disabled"] and not SKIP_LABELS.match(c["label"])}
        retry = [c for sig, c in visible.items() if sig in armed]
        # An expander that a rerun closed again is opened again (its other controls wait inside).
        fresh = [c for sig, c in visible.items() if sig not in done or (c["kind"] == "expander" and opened[sig] < 3)]
        if retry:
            control, second = retry[0], True
            armed.discard(control["sig"])
        elif fresh:
            control, second = min(fresh, key=lambda c: order[c["kind"]]), False
            done.add(control["sig"])
            opened[control["sig"]] += control["kind"] == "expander"
        else:
            break
        changed = _try(page, crawl, control, url, where, ws_root, console)
        if changed == "single":
            continue
        if changed:
            armed |= pending
            pending.clear()
        elif changed is False and second:
            dead[control["sig"]] = "nothing changed (text, URL, widgets, files), also when pressed again after the page changed"
        elif changed is False:
            pending.add(control["sig"])
    else:
        crawl.exceptions.append((where, "(crawl)", f"more than {MAX_PRESSES_PER_PAGE} presses: the page keeps growing new controls"))
    for sig in pending | armed:
        dead[sig] = "nothing changed (text, URL, widgets, files)"
    crawl.dead += [(where, sig, why) for sig, why in dead.items()]


def _failed_embed_job(root: Path) -> None:
    """A failed embed job as a job process leaves it; retried, it runs to its end (every demo
    image has its vectors already)."""
    from clipcore.catalog.store import Workspace

    args = '["--model", "tiny", "--pretrained", "none", "--device", "cpu", "--precision", "fp32", "--quiet"]'
    with Workspace(root).transaction() as conn:
        conn.execute("INSERT INTO jobs (id, kind, args, status, message, started_at, updated_at, done, total) VALUES "
                     "('crawlfailed', 'embed', ?, 'failed', 'the disk was full', '2026-01-01T00:00:00+00:00', "
                     "'2026-01-01T00:00:01+00:00', 0, 32)", (args,))


@pytest.fixture(scope="module", params=COLLECTIONS)
def crawl(request, browser, _built_workspace, demo_dir, tmp_path_factory) -> Crawl:
    """Crawl one collection on a scratch copy (destructive presses are fine here), in the
    session's Chromium (a second sync Playwright in one process is refused)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    tmp = tmp_path_factory.mktemp(f"crawl-{request.param}")
    demo_ws = tmp / "demo-ws"
    shutil.copytree(_built_workspace, demo_ws)
    (tmp / "empty-src").mkdir()
    config = tmp / "clipcore.toml"
    config.write_text(
        '[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n\n'
        f'[workspaces.demo]\npath = "{demo_ws}"\nsource = "{demo_dir}"\nlabels_from_folders = true\ndemo = true\n\n'
        f'[workspaces.empty]\npath = "{tmp / "empty-ws"}"\nsource = "{tmp / "empty-src"}"\n\n'
        f'[app]\nallowed_roots = ["{tmp}"]\ndata_dir = "{tmp / "data"}"\n'
    )
    ws_root = demo_ws if request.param == "demo" else tmp / "empty-ws"
    if request.param == "demo":  # a failed job, so that the crawl presses a Retry
        _failed_embed_job(demo_ws)
    result = Crawl(request.param)
    proc, base = start_streamlit(config, log=tmp / "streamlit.log")
    start = time.monotonic()
    try:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        try:
            page = context.new_page()
            console: list[str] = []
            # A failed request is recorded with its URL (below), not as the console's bare line.
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                    if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
            page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
            page.on("response", lambda r: console.append(f"HTTP {r.status}: {r.url}")
                    if r.status >= 400 and not BASE_PATH_PROBE.search(r.url) else None)
            page.goto(f"{base}/?ws={request.param}")
            nav = page.locator('[data-testid="stSidebarNav"] a')
            nav.first.wait_for(timeout=90_000)
            links = [(nav.nth(i).inner_text().strip().splitlines()[-1], nav.nth(i).get_attribute("href")) for i in range(nav.count())]
            for title, href in links:
                path = href.split("?")[0].rstrip("/")
                url = f"{path}?ws={request.param}" if path.startswith("http") else f"{base}/{path.lstrip('/')}?ws={request.param}"
                result.pages.append(title)
                _crawl_page(page, result, url, title, ws_root, console)
        finally:
            context.close()
    finally:
        stop_streamlit(proc)
        result.seconds = time.monotonic() - start
    print(f"\ncrawl of {request.param}: {len(result.pressed)} presses on {len(result.pages)} pages in {result.seconds:.0f} s")
    print("  pressed:", "; ".join(f"{where}/{what}" for where, what in result.pressed))
    for name in ("exceptions", "console", "errors", "expected_errors", "known", "cli_words", "dead"):
        for finding in getattr(result, name):
            print(f"  {name}:", " / ".join(finding)[:400].replace("\n", " "))
    return result


def _say(findings: list[tuple[str, str, str]]) -> str:
    return "\n".join(f"{where} / {what}: {detail}" for where, what, detail in findings)


def test_the_crawl_reaches_every_page_and_presses_controls(crawl):
    assert len(crawl.pages) == 7, crawl.pages  # Home and the six pages
    assert len(crawl.pressed) >= (40 if crawl.collection == "demo" else 10), crawl.pressed
    kinds = {what.split("|")[0] for _, what in crawl.pressed}
    wanted = {"button", "expander"} | ({"tab", "radio", "select", "grid", "download", "check", "step"} if crawl.collection == "demo" else set())
    assert wanted <= kinds, kinds
    if crawl.collection == "demo":
        assert any(what == "button|Retry#1" for _, what in crawl.pressed), "the failed job's Retry was not pressed"


def test_no_exception_component_error_or_console_error(crawl):
    assert not crawl.exceptions, _say(crawl.exceptions)
    assert not crawl.console, _say(crawl.console)


def test_no_error_box_for_an_admin(crawl):
    assert not crawl.errors, _say(crawl.errors)


def test_no_message_in_cli_language(crawl):
    assert not crawl.cli_words, _say(crawl.cli_words)


def test_every_control_does_something(crawl):
    assert not crawl.dead, _say(crawl.dead)


@pytest.mark.parametrize("bug", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=why)) for name, (_, why) in KNOWN_BUGS.items()
])
def test_known_bug_is_gone(crawl, bug):
    if crawl.collection != "demo":
        pytest.skip("found on the demo collection")
    assert not [k for k in crawl.known if k[2] == bug], _say([k for k in crawl.known if k[2] == bug])
