"""Small steps the console's tests share: signing in through the development picker, the two
viewports the pages must work at, and checks of labels and keyboard focus.

    sign_in(page, console.public_url, "carla", "/tasks")
    page.set_viewport_size(PHONE)
"""

from __future__ import annotations

from urllib.parse import quote

from playwright.sync_api import Locator, Page, expect

__all__ = ["DESKTOP", "PHONE", "assert_fits_width", "assert_labelled", "focus_by_tab", "sign_in"]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base_url: str, user: str, next_path: str = "/") -> None:
    """Sign `user` in with the development picker on /sign-in (its `[data-user=...]` button),
    land on `next_path`, and wait until the header names them."""
    page.goto(f"{base_url}/sign-in?next={quote(next_path, safe='')}")
    page.locator(f'[data-user="{user}"]').click()
    expect(page.get_by_test_id("who")).to_contain_text(user)


def assert_labelled(scope: Locator) -> None:
    """Every input, select and text area inside `scope` has a label a screen reader reads."""
    unlabelled = scope.evaluate("""(root) => [...root.querySelectorAll('input, select, textarea')]
        .filter((el) => el.type !== 'hidden')
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !el.getAttribute('aria-labelledby'))
        .map((el) => el.outerHTML.slice(0, 120))""")
    assert unlabelled == [], f"inputs without a label: {unlabelled}"


def focus_by_tab(page: Page, target: Locator, presses: int = 60) -> None:
    """Press Tab until `target` has the keyboard focus (at most `presses` times), then check
    that the focus is visible: an outline drawn around it."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("(el) => el === document.activeElement"):
            break
    else:
        raise AssertionError(f"Tab never reached {target}")
    outline = target.evaluate("""(el) => { const s = getComputedStyle(el);
        return {style: s.outlineStyle, width: parseFloat(s.outlineWidth),
                visible: el.matches(':focus-visible')}; }""")
    assert outline["visible"], outline
    assert outline["style"] != "none", outline
    assert outline["width"] > 0, outline


def assert_fits_width(page: Page) -> None:
    """Nothing on the page is wider than the viewport (no sideways scrolling on a phone)."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px viewport"
