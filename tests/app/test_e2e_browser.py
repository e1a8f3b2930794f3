"""The app in a real Chromium against a real sync server: a worker reports offline, a supervisor
files and closes the case, and the worker's phone shows it closed.

The handler's part (start, report back with an after photo) runs on a virtual phone through the
device core, as the field simulator does; everything the worker and the supervisor do is done in the
browser by tapping what a person would tap.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from tests.app import pictures
from tests.app.browser_fixtures import AppServer, City, run_async
from tests.app.phone import Phone

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GRID_1 = (22.7875, 115.362375)  # the middle of 441502001001001
MANHOLE_ZH = "井盖缺失或破损"
MANHOLE_EN = "Manhole cover missing or broken"


def handler_reports_back(city: City, folder: Path, photo: bytes) -> str:
    """The municipal handler's phone: enroll, pull the dispatched case, start, report back."""

    async def work() -> str:
        code, _ = city.enroll_code("chen.gang")
        device = Device.open(folder, MemorySecretStore())
        try:
            await device.enroll(city.url, code, device_name="handler phone")
            await device.sync()
            [view] = [v for v in device.cases() if v.case.status == "dispatched"]
            case_id = view.case.case_id
            device.transition(case_id, "start")
            device.add_photo(case_id, photo, "after")
            device.transition(case_id, "report_back")
            report = await device.sync()
            assert report.ok and device.pending().empty, report
            assert device.case(case_id).case.status == "reported_back"  # type: ignore[union-attr]
            return case_id
        finally:
            device.close()

    return run_async(work())


def sync_now(phone: Phone, tab: str, button: str, done: str | re.Pattern[str]) -> None:
    """Tap "sync now" and wait for *this* round: the sync screen shows when the last round ended, to
    the second, so a new round shows a new time (the tap waits for the next second first)."""
    phone.tab(tab)
    stamp = phone.page.get_by_text(
        re.compile(r"(最近一次同步|Last sync round)：?:? ?\d\d:\d\d:\d\d|还没有成功同步过|Not synced yet")
    ).first
    stamp.wait_for()
    before = stamp.inner_text()
    time.sleep(1.05 - (time.time() % 1))
    phone.tap(button)
    end = time.monotonic() + 30
    while stamp.inner_text() == before:
        assert time.monotonic() < end, f"no new sync round after tapping {button}"
        time.sleep(0.2)
    phone.see(done)


def test_a_report_made_offline_is_closed_by_the_supervisor_and_shows_closed_on_the_workers_phone(
    city: City, app_server: AppServer, browser: Any, screenshots: Path, tmp_path: Path
) -> None:
    before = pictures.write(tmp_path, "broken")
    verification = pictures.write(tmp_path, "verification")

    # --- the worker enrolls with a typed code ------------------------------------------------------
    worker = Phone(browser, app_server.url, locale="zh-CN", lat=GRID_1[0], lon=GRID_1[1])
    code, _ = city.enroll_code("zhang.wei")
    worker.see("设备注册")
    worker.fill("服务器地址", city.url)
    worker.fill("注册码", code.lower().replace("-", ""))  # people type codes any which way
    worker.tap_until("注册", "注册成功", exact=True)
    worker.see("欢迎，张伟")
    worker.see(re.compile("凤山街道 新风社区 第1网格"))
    worker.shot(screenshots / "enroll-done-zh.png")
    worker.start_work()
    worker.see("这里还没有案件。")

    # --- no network: the report is saved on the phone --------------------------------------------
    city.stop()
    worker.tab("上报")
    worker.see("精度约 8 米")  # the (fake) GPS fix arrived, with its accuracy
    worker.see(re.compile("网格：凤山街道 新风社区 第1网格"))
    worker.tap("选择类别")
    worker.fill("搜索类别", "井盖")
    worker.tap_row(MANHOLE_ZH)
    worker.see(re.compile(f"› {MANHOLE_ZH}"))
    worker.choose_files("从相册选择", before)
    worker.see("照片 (1)")
    worker.fill("问题描述（可选）", "井盖破裂，已放锥桶")
    worker.shot(screenshots / "report-zh.png", top=True)
    worker.tap("保存上报")
    worker.see("待立案")  # the case screen of the new case
    worker.see("未同步")
    case_url = worker.page.url
    sync_now(worker, "同步", "立即同步", "没有网络，内容已安全保存在手机上，有网络时会自动上传。")
    worker.see("待上传的照片：1")
    worker.shot(screenshots / "sync-offline-zh.png")

    # --- the network is back: the phone's background retries may get there before the tap ---------
    city.start()
    sync_now(worker, "同步", "立即同步", re.compile("同步完成"))
    worker.see("所有内容都已上传。")

    # --- the supervisor enrolls from a pasted link, in English, and files the case ---------------
    supervisor = Phone(browser, app_server.url, locale="en-US", lat=GRID_1[0], lon=GRID_1[1])
    _, link = city.enroll_code("wang.fang")
    supervisor.see("Enroll this device")
    supervisor.fill("Enrollment link (gridsync://…)", link)
    supervisor.tap("Use link")
    supervisor.tap_until("Enroll", "Welcome, 王芳", exact=True)
    supervisor.see("All grids")
    supervisor.start_work("Start work")
    sync_now(supervisor, "Sync", "Sync now", re.compile("Synced"))
    # filing from the queue: Approvals, File and dispatch on the card, OK — three taps
    supervisor.tab("Approvals")
    supervisor.see("To file (1)")
    supervisor.settle(0.5)
    supervisor.shot(screenshots / "approvals-file-en.png")
    supervisor.tap("File and dispatch")
    supervisor.tap("OK")  # the dialog offers the category's own department first
    supervisor.see("Saved: File and dispatch")
    sync_now(supervisor, "Sync", "Sync now", re.compile("Synced"))  # the filing may have gone up already
    supervisor.see("Everything is uploaded.")

    # --- the handler fixes it (virtual phone) --------------------------------------------------------
    case_id = handler_reports_back(city, tmp_path / "handler", pictures.street_scene("fixed"))
    assert case_url.endswith(case_id)

    # --- the worker verifies on site with a photo ------------------------------------------------
    sync_now(worker, "同步", "立即同步", re.compile("同步完成"))
    worker.tab("我的工作")
    worker.see("已反馈")
    worker.tap_text(MANHOLE_ZH)
    worker.tap("核查")
    worker.see("此步骤需要一张核查照片。")
    worker.choose_files("添加核查照片", verification)
    worker.settle(1.5)
    worker.tap("确定")
    worker.see("已保存：核查")
    worker.see("已核查")
    worker.shot(screenshots / "case-verified-zh.png")
    sync_now(worker, "同步", "立即同步", re.compile("同步完成"))
    worker.see("所有内容都已上传。")

    # --- the supervisor approves the closure from the approval queue ------------------------------
    sync_now(supervisor, "Sync", "Sync now", re.compile("Synced"))
    supervisor.tab("Approvals")
    supervisor.see("Closure to approve")
    supervisor.shot(screenshots / "approvals-en.png")
    supervisor.tap_text(MANHOLE_EN)
    supervisor.see("Approve closure")
    supervisor.shot(screenshots / "case-approve-en.png")
    supervisor.tap("Approve closure")
    supervisor.see("Approving closes the case for everyone. Approve the closure?")  # asked first
    supervisor.shot(screenshots / "case-approve-confirm-en.png")
    supervisor.page.get_by_role("button", name="Approve closure").last.click()
    supervisor.see("Saved: Approve closure")
    sync_now(supervisor, "Sync", "Sync now", re.compile("Synced"))
    supervisor.see("Everything is uploaded.")

    # --- the worker's phone shows it closed ----------------------------------------------------------
    sync_now(worker, "同步", "立即同步", re.compile("同步完成"))
    worker.tab("我的工作")
    worker.tap_text(MANHOLE_ZH)
    worker.see("已结案")
    worker.see(re.compile("批准结案 · 王芳"))  # people by name, not login id
    worker.shot(screenshots / "case-closed-zh.png")
    supervisor.close()
    worker.close()


def test_a_wrong_enrollment_code_says_so_in_words(app_server: AppServer, browser: Any, city: City) -> None:
    phone = Phone(browser, app_server.url, locale="zh-CN", lat=GRID_1[0], lon=GRID_1[1])
    phone.fill("服务器地址", city.url)
    phone.fill("注册码", "AAAA-BBBB-CCCC")
    phone.tap_until("注册", "注册码错误、已使用或已过期。", exact=True)
    phone.fill("注册码", "12")
    phone.tap_until("注册", "请填写 12 位注册码。", exact=True)
    phone.close()


def test_a_browser_opened_on_an_enrollment_link_enrolls_without_typing(
    app_server: AppServer, browser: Any, city: City
) -> None:
    city.add_worker("sun.li", "孙丽", "worker", grids="441502001001002")
    _, link = city.enroll_code("sun.li")
    query = link.split("?", 1)[1]  # a scanned gridsync://enroll?… reaches the app as /?server=…&code=…&fp=…
    phone = Phone(browser, app_server.url, locale="zh-CN", lat=GRID_1[0], lon=GRID_1[1], path="/?" + query)
    phone.see("欢迎，孙丽")
    phone.start_work()
    phone.see("这里还没有案件。")
    phone.close()


def test_an_unreachable_server_is_a_network_message_not_a_crash(app_server: AppServer, browser: Any) -> None:
    phone = Phone(browser, app_server.url, locale="en-US", lat=GRID_1[0], lon=GRID_1[1])
    phone.fill("Server address", "http://127.0.0.1:9")
    phone.fill("Enrollment code", "AAAA-BBBB-CCCC")
    phone.tap_until(
        "Enroll",
        "Cannot reach the server. Check the network and the server address, then try again.",
        exact=True,
    )
    phone.close()


SCREENS = [  # (tab in zh, tab in en, file name, something the screen says in zh, in en)
    ("我的工作", "My work", "home", "全部", "All"),
    ("上报", "Report", "report", "问题类别", "Category"),
    ("地图", "Map", "map", "底图需要网络", "The base map needs a network"),
    ("同步", "Sync", "sync", "导出交接文件", "Export hand-over file"),
    ("设置", "Settings", "settings", "语言", "Language"),
]


def test_switching_language_changes_the_screen_text_and_every_main_screen_is_pictured(
    city: City, app_server: AppServer, browser: Any, screenshots: Path
) -> None:
    for locale, title in (("zh-CN", "设备注册"), ("en-US", "Enroll this device")):
        fresh = Phone(browser, app_server.url, locale=locale, lat=GRID_1[0], lon=GRID_1[1])
        fresh.see(title)  # the device's language decides at first
        fresh.shot(screenshots / f"enroll-{locale[:2]}.png")
        fresh.close()

    phone = Phone(browser, app_server.url, locale="zh-CN", lat=GRID_1[0], lon=GRID_1[1])
    code, _ = city.enroll_code("li.na")
    phone.fill("服务器地址", city.url)
    phone.fill("注册码", code)
    phone.tap("注册", exact=True)
    phone.start_work()
    sync_now(phone, "同步", "立即同步", re.compile("同步完成"))
    for lang in ("zh", "en"):
        for zh_tab, en_tab, name, zh_word, en_word in SCREENS:
            phone.tab(zh_tab if lang == "zh" else en_tab)
            phone.see(zh_word if lang == "zh" else en_word)
            if name == "map":
                phone.settle(2)  # markers and grid outlines; tiles stay grey with no network
            # scrolled to the top, but not with the wheel over the map (it would zoom the map out)
            phone.shot(screenshots / f"{name}-{lang}.png", top=name != "map")
        if lang == "zh":
            phone.page.get_by_role("radio", name="English").click()
            phone.see("Language")
            phone.page.get_by_role("radio", name="Follow the device").wait_for()
            assert phone.page.get_by_role("radio", name="跟随系统").count() == 0
    phone.tab("My work")
    if phone.sees_now(MANHOLE_EN):
        phone.tap_text(MANHOLE_EN)
        phone.see("Timeline")
        phone.shot(screenshots / "case-en.png", top=True)
    phone.close()
