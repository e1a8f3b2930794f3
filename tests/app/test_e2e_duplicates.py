"""The server's possible duplicates in a real Chromium: two reports of a broken street light 12 m
apart, made on a worker's virtual phone (the device core, as the field simulator does); the
supervisor, in the browser, opens the later one, sees the earlier one offered with how far it lies,
and links the later one as its duplicate after a confirmation; the worker's phone then holds it as
the server filed it: a duplicate of the earlier one."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from mobile.core.device import Device
from mobile.core.location import Fix
from mobile.core.secrets import MemorySecretStore
from tests.app.browser_fixtures import AppServer, City, run_async
from tests.app.phone import Phone
from tests.app.test_e2e_browser import sync_now

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GRID_2 = (22.7875, 115.363425)  # the middle of 441502001001002 (zhang.wei's second grid)
M_PER_DEG = 111_195.0


def _fix(lat: float, lon: float) -> Fix:
    return Fix(lat, lon, 6.0, int(time.time()), "gps")


def test_the_supervisor_links_the_later_report_as_a_duplicate_of_the_nearby_one(
    city: City, app_server: AppServer, browser: Any, screenshots: Path, tmp_path: Path
) -> None:
    secrets, folder = MemorySecretStore(), tmp_path / "worker"

    async def worker_reports_twice() -> tuple[str, str, str, str]:
        code, _ = city.enroll_code("zhang.wei")
        device = Device.open(folder, secrets)
        try:
            await device.enroll(city.url, code, device_name="worker phone")
            lat, lon = GRID_2[0], GRID_2[1] + 20 / M_PER_DEG  # 20 m east of the grid's middle
            first = device.report(category="0103", location=_fix(lat, lon), description="路灯不亮，灯杆歪斜")
            assert (await device.sync()).ok
            second = device.report(
                category="0103", location=_fix(lat + 12 / M_PER_DEG, lon), description="路灯又灭了"
            )
            assert (await device.sync()).ok
            numbers = [device.case(c) for c in (first, second)]
            assert all(v is not None and v.case.case_no for v in numbers)
            return first, second, numbers[0].case.case_no, numbers[1].case.case_no  # type: ignore[union-attr]
        finally:
            device.close()

    first, second, first_number, second_number = run_async(worker_reports_twice())

    supervisor = Phone(browser, app_server.url, locale="en-US", lat=GRID_2[0], lon=GRID_2[1])
    _, link = city.enroll_code("wang.fang")
    supervisor.see("Enroll this device")
    supervisor.fill("Enrollment link (gridsync://…)", link)
    supervisor.tap("Use link")
    supervisor.tap_until("Enroll", "Welcome, 王芳", exact=True)
    supervisor.start_work("Start work")
    sync_now(supervisor, "Sync", "Sync now", re.compile("Synced"))
    supervisor.tab("Approvals")
    supervisor.tap_text(second_number)  # its card in the queue, found by its words
    supervisor.see("Possible duplicates")
    supervisor.see(f"{first_number} · Reported")  # the earlier report, offered by its number
    supervisor.see(re.compile("12 m away"))
    supervisor.see(re.compile("路灯不亮，灯杆歪斜"))
    supervisor.shot(screenshots / "case-duplicates-en.png")
    supervisor.tap("This case duplicates it")
    supervisor.see("This case will be marked a duplicate and its handling ends. Link it?")  # asked first
    supervisor.page.get_by_role("button", name="Link as duplicate").last.click()
    supervisor.see("Saved: Link as duplicate")
    supervisor.open(f"{app_server.url}/sync")
    supervisor.tap("Sync now")
    supervisor.see("Everything is uploaded.")  # the link is on the server
    supervisor.close()

    async def worker_syncs() -> tuple[str, str | None]:
        device = Device.open(folder, secrets)
        try:
            assert (await device.sync()).ok
            view = device.case(second)
            assert view is not None
            return str(view.case.status), view.case.duplicate_of
        finally:
            device.close()

    assert run_async(worker_syncs()) == ("duplicate", first)
