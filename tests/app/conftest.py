"""Fixtures for the app: the device-core fixtures (clock, in-process server) for headless state
tests, and — for the browser tests — a real server process and the app served in web mode."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.browser_fixtures import app_server, browser, city, screenshots  # noqa: F401
from tests.mobile.conftest import clock, offline_device, server  # noqa: F401

FAILURE_SHOTS = Path(tempfile.gettempdir()) / "gridsync-e2e-failures"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a browser test fails, leave a screenshot of every open phone to look at."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        from tests.app.phone import Phone

        FAILURE_SHOTS.mkdir(exist_ok=True)
        for n, phone in enumerate(list(Phone.open_phones)):
            with contextlib.suppress(Exception):
                phone.page.screenshot(path=str(FAILURE_SHOTS / f"{item.name}-{n}.png"))
            with contextlib.suppress(Exception):
                phone.close()
