"""The console's tests: Playwright driving Debian's Chromium (`/usr/bin/chromium`, `make
browser`) against a whole Laneway (every service, the edge serving the built console).

`console` is one Laneway for the module (starting one takes seconds; each test makes its own
processes and instances, so they do not see each other's work); `browser` one headless Chromium
for the module (Playwright's sync API runs an event loop in the main thread while it is open:
kept for the session, every later `asyncio.run()` of the suite, tests/unit's connector tests,
failed); `page` a fresh context per test, whose last screen is saved as a test
artifact in `var/test-artifacts/console/<test>.png` (the README shows two).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from scripts.console.__main__ import CHROMIUM, DIST_STAMP
from scripts.stack import Connections
from tests.auth import signing_key
from tests.e2e.harness import ALL, Laneway, free_port
from tests.integration.conftest import stack

__all__ = ["browser", "console", "mailbox", "page", "stack"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    if not DIST_STAMP.exists():
        pytest.fail("console/dist is not built: `make console` builds it")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                   args=["--no-sandbox"])
    yield b
    b.close()


class Mailbox:
    """What the local SMTP server accepted (aiosmtpd: the real protocol, on a local port)."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    # aiosmtpd looks the hook up by this name
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, str]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, f"smtp://127.0.0.1:{controller.port}?from=permits%40city.example"
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def console(stack: Connections, mailbox: tuple[Mailbox, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Laneway]:
    lw = Laneway(bootstrap=stack.kafka_bootstrap_servers, database_url=stack.database_url,
                 redis_url=stack.redis_url, workdir=tmp_path_factory.mktemp("console"),
                 # the triggers service for the schedules page (test_console_schedules.py)
                 services=(*ALL, "worklist", "triggers"),
                 env_overrides={"LANEWAY_DEV_SIGNIN": "1",
                                "LANEWAY_DEV_KEY_FILE": str(signing_key()),
                                # the permit's e-mail task sends to the local SMTP server
                                "LANEWAY_SECRET_SMTP": mailbox[1]})
    lw.start()
    yield lw
    lw.close()


class PageErrors:
    """What the page reported: script errors and CSP violations fail the test that saw them."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, msg: ConsoleMessage) -> None:
        # a refused request (4xx the test provoked) is logged by Chromium as an error too
        if msg.type == "error" and not re.search(r"Failed to load resource", msg.text):
            self.errors.append(msg.text)

    def on_error(self, exc: Exception) -> None:
        self.errors.append(f"uncaught: {exc}")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    errors = PageErrors()

    def watch(opened: Page) -> None:  # every tab of the context: a test may open several
        opened.on("console", errors.on_console)
        opened.on("pageerror", errors.on_error)

    context.on("page", watch)
    p = context.new_page()
    yield p
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for n, open_page in enumerate(context.pages):
        suffix = "" if n == 0 else f"-{n}"
        open_page.screenshot(path=str(ARTIFACTS / f"{name}{suffix}.png"))
    context.close()
    assert not errors.errors, f"the page reported errors: {errors.errors}"
