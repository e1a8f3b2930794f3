"""The camera in a real Chromium: its fake camera (a test pattern) stands in for a phone's, and the
still it takes becomes a report photo exactly as a picked picture does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.app.browser_fixtures import AppServer, City
from tests.app.phone import Phone

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GRID_1 = (22.7875, 115.362375)  # the middle of 441502001001001


def fake_camera_green(picture: Path) -> int:
    """Pixels of the greens Chromium's fake camera draws; nothing else on the screen has them."""
    with Image.open(picture) as shot:
        raw = shot.convert("RGB").tobytes()
    pixels = zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
    return sum(1 for r, g, b in pixels if g > 100 and r < 40 and b < 40)


def test_a_photo_taken_with_the_camera_shows_as_a_thumbnail_and_is_saved_with_the_report(
    city: City, app_server: AppServer, browser: Any, screenshots: Path
) -> None:
    city.add_worker("zhou.jie", "周杰", "worker", grids="441502001001001")
    code, _ = city.enroll_code("zhou.jie")
    phone = Phone(browser, app_server.url, locale="zh-CN", lat=GRID_1[0], lon=GRID_1[1], camera=True)
    phone.fill("服务器地址", city.url)
    phone.fill("注册码", code)
    phone.tap("注册", exact=True)
    phone.start_work()
    phone.tab("上报")
    phone.see("精度约 8 米")

    phone.tap("拍照", exact=True)
    phone.see("拍摄")
    phone.settle(2)  # the preview starts
    phone.shot(screenshots / "camera-zh.png")
    phone.tap("拍摄")
    phone.see("照片 (1)")
    phone.page.get_by_label("删除照片").first.wait_for()  # one thumbnail, removable
    phone.shot(screenshots / "report-camera-zh.png", top=True)
    assert (
        fake_camera_green(screenshots / "report-camera-zh.png") > 3000
    )  # the thumbnail (96 px square) shows the still

    phone.tap("选择类别")
    phone.fill("搜索类别", "井盖")
    phone.tap_row("井盖缺失或破损")
    phone.tap("保存上报")
    phone.see("待立案")
    phone.see(re.compile("照片"))
    phone.close()
