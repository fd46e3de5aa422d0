"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server; axe-core scans pages.

Without /usr/bin/chromium or node_modules/axe-core (installed by `make test`), the browser tests are deselected
with a NOT RUN line; with WISER_REQUIRE_SERVICES=1 (CI) they fail with a message saying what to install.
"""

import os
from pathlib import Path

import pytest

# pytest-django's live server runs in a thread while sync Playwright runs an event loop in this one.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
_not_run: list[str] = []


def _missing() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append("Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    if not AXE.exists():
        missing.append("axe-core in node_modules/ (npm ci)")
    return missing


def _required() -> bool:
    return os.environ.get("WISER_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes", "on"}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    browser_items = [i for i in items if here in Path(str(i.fspath)).parents]
    if not browser_items or not _missing() or _required():
        return
    _not_run.extend(i.nodeid for i in browser_items)
    config.hook.pytest_deselected(items=browser_items)
    items[:] = [i for i in items if i not in browser_items]


def pytest_terminal_summary(terminalreporter):
    if _not_run:
        terminalreporter.write_line(
            f"NOT RUN: {len(_not_run)} browser test(s) need {' and '.join(_missing())}; `make test` installs them.",
            yellow=True,
        )


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    missing = _missing()
    if missing:
        pytest.fail(f"The browser tests need {' and '.join(missing)}; run `make test` to install them.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser):
    """A page 375 px wide, like a small phone."""
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=1, locale="en-GB"
    )
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def check_page(page, name: str) -> None:
    """Screenshot the page under var/screenshots/ and fail on any serious or critical axe-core violation."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    # axe-core comes in as an init script of the browser context, which the pages' Content-Security-Policy
    # (script-src 'self') does not block, so the pages are checked under their real policy.
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
    details = "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in serious
    )
    assert not serious, f"{name}: accessibility violations: {details}"
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport + 1, f"{name}: the page is {width}px wide in a {viewport}px viewport"
