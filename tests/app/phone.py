"""A person holding the app in a browser: small verbs over Playwright for the browser tests.

Flutter draws on a canvas; its semantics tree (switched on through the placeholder) is what makes
buttons, fields and text findable by their words.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, ClassVar

TIMEOUT_MS = 30_000


def _as_typed(text: str) -> str:
    """Text as a check of "it took" sees it: a field may format what is typed (the enrollment code
    field upper-cases it and groups it with dashes)."""
    return "".join(ch for ch in text.casefold() if ch.isalnum() or not ch.isascii() or ch in ".:/@")


class Phone:
    #: open phones, so a failing test can leave a screenshot of each behind (see conftest)
    open_phones: ClassVar[list[Phone]] = []

    def __init__(
        self,
        browser: Any,
        url: str,
        *,
        locale: str,
        lat: float,
        lon: float,
        accuracy: float = 8,
        camera: bool = False,
        path: str = "",
    ) -> None:
        """`camera`: the browser may use Chromium's fake camera (a test pattern) without asking.
        `path`: where the browser opens the app (a route, a query), as a link would."""
        self.context = browser.new_context(
            locale=locale,
            viewport={"width": 412, "height": 915},
            device_scale_factor=1,
            permissions=["geolocation", "camera"] if camera else ["geolocation"],
            geolocation={"latitude": lat, "longitude": lon, "accuracy": accuracy},
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.open(url + path)
        Phone.open_phones.append(self)

    def open(self, url: str) -> None:
        """Load the app at `url` (a route, a query, as a link would) and switch Flutter's semantics
        on, so the page's words and buttons can be found."""
        self.page.goto(url)
        self.page.wait_for_selector("flt-semantics-placeholder", state="attached", timeout=60_000)
        self.page.evaluate("document.querySelector('flt-semantics-placeholder').click()")

    def close(self) -> None:
        if self in Phone.open_phones:
            Phone.open_phones.remove(self)
        self.context.close()

    # --- looking --------------------------------------------------------------------------------------
    def see(self, text: str | re.Pattern[str], timeout: float = TIMEOUT_MS) -> None:
        self.page.get_by_text(text).first.wait_for(state="visible", timeout=timeout)

    def sees_now(self, text: str) -> bool:
        return self.page.get_by_text(text).count() > 0

    def gone(self, text: str, timeout: float = TIMEOUT_MS) -> None:
        self.page.get_by_text(text).first.wait_for(state="detached", timeout=timeout)

    def settle(self, seconds: float = 0.8) -> None:
        time.sleep(seconds)

    def shot(self, path: Path, *, top: bool = False) -> None:
        self.page.mouse.move(200, 300)
        if top:
            self.page.mouse.wheel(0, -5000)
        self.page.mouse.move(0, 0)  # no hover tooltips in the picture
        self.settle(1.0)
        self.page.screenshot(path=str(path))

    # --- doing ----------------------------------------------------------------------------------------
    def fill(self, label: str, text: str) -> None:
        """Type into a field, and check it took: Flutter attaches its text editing to the field a
        frame after the tap, and a value set before then is dropped (seen after an error message
        re-laid the screen out: the field kept its old text)."""
        field = self.page.get_by_label(label).first
        for _ in range(3):
            field.click()
            self.settle(0.3)
            field.fill(text)
            self.settle(0.2)
            if _as_typed(field.input_value()) == _as_typed(text):
                return
        raise AssertionError(f"the field {label!r} would not take {text!r}: it holds {field.input_value()!r}")

    def tap(self, name: str | re.Pattern[str], *, exact: bool = False) -> None:
        self.page.get_by_role("button", name=name, exact=exact).first.click()

    def tap_until(self, name: str, shows: str | re.Pattern[str], *, exact: bool = False) -> None:
        """Tap a button that moves the app on, and tap again while it has not: under load a Flutter web
        tap that lands while the screen is re-laid out is dropped (seen: "Enroll" right after "Use
        link" filled the fields did nothing). Only for buttons that ignore a second tap while busy."""
        for _ in range(3):
            self.tap(name, exact=exact)
            try:
                self.see(shows, timeout=10_000)
                return
            except Exception:
                self.settle(1.0)
        self.see(shows)

    def tap_text(self, text: str) -> None:
        """Something tappable that shows these words (a list row, a card). It usually opens a page:
        let the page-push animation finish, or Flutter drops the next tap (it ignores pointers
        while a route is moving; seen as a "核查" tap that did nothing)."""
        self.page.get_by_text(text).first.click()
        self.settle(0.6)

    def tap_row(self, text: str) -> None:
        """A list row whose words start with these (its semantics node is a button)."""
        self.page.get_by_role("button", name=re.compile("^" + re.escape(text))).first.click()
        self.settle(0.6)  # it opens a page: see `tap_text`

    def tab(self, label: str) -> None:
        """A destination of the bottom bar (from a case, the system back gesture first)."""
        if "/case/" in self.page.url:
            self.page.go_back()
            self.page.get_by_role("tab").first.wait_for()
            self.settle(0.6)  # let the page-pop animation finish, or the tap lands on it
        chosen = self.page.get_by_role("tab", name=label, selected=True)
        for _ in range(3):
            self.page.get_by_role("tab", name=label).first.click()
            try:
                chosen.first.wait_for(timeout=5_000)
                return
            except Exception:
                continue
        chosen.first.wait_for()

    def start_work(self, label: str = "开始工作") -> None:
        """Leave the enrollment screen for my work. Under load a Flutter web tap that lands while
        the screen is still settling can be dropped; a person taps again, so does this."""
        tabs = self.page.get_by_role("tab")
        for _ in range(3):
            self.tap(label)
            try:
                tabs.first.wait_for(timeout=10_000)
                return
            except Exception:
                self.settle(1.0)
        tabs.first.wait_for()

    def choose_files(self, button: str, *files: Path) -> None:
        with self.page.expect_file_chooser() as chooser:
            self.tap(button)
        chooser.value.set_files([str(f) for f in files])
