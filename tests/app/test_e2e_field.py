"""The app at phone size (412 × 915) in Chromium, where only the page shows it: every touch target
is at least 48 px (56 for main actions), the report's save stays on screen with a photo attached, a
missing field's message shows on screen next to its field, and the main action on the home screen
has the strongest contrast."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.app import pictures
from tests.app.browser_fixtures import AppServer, City
from tests.app.phone import Phone

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GRID_1 = (22.7875, 115.362375)
HEIGHT = 915
NAV_BAR = 80  # Material 3 navigation bar height
#: what a person can tap, as Flutter's semantics tree names it
#: the text selection toolbar Flutter itself shows over a field just typed into: not the app's
SYSTEM_TOOLBAR = {"Copy", "Cut", "Paste", "Select all"}
TAPPABLE = "flt-semantics[role=button], [role=tab], [role=checkbox], [role=radio], [role=switch], [role=link]"


def small_targets(phone: Phone) -> list[str]:
    """Tappable things on screen less than 48 px high or wide, with their names."""
    found = phone.page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector)).map(e => {
               const r = e.getBoundingClientRect();
               return {name: e.getAttribute('aria-label') || e.innerText || e.tagName, w: r.width,
                       h: r.height, top: r.top, bottom: r.bottom};
           }).filter(t => t.w > 0 && t.h > 0 && t.bottom > 0 && t.top < window.innerHeight)""",
        TAPPABLE,
    )
    return [
        f"{t['name']!r} {t['w']:.0f}x{t['h']:.0f}"
        for t in found
        if (t["h"] < 47.5 or t["w"] < 47.5) and t["name"] not in SYSTEM_TOOLBAR
    ]


def box(phone: Phone, text: str | re.Pattern[str], role: str | None = None) -> dict[str, float]:
    found = (
        phone.page.get_by_role(role, name=text).first  # type: ignore[arg-type]
        if role
        else phone.page.get_by_text(text).first
    )
    found.wait_for(state="visible")
    b = found.bounding_box()
    assert b is not None
    return b


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def dominant(phone: Phone, area: dict[str, float]) -> tuple[int, int, int]:
    """The most common colour inside an area of the screen (a button's fill)."""
    png = phone.page.screenshot(
        clip={
            "x": area["x"] + 4,
            "y": area["y"] + 4,
            "width": area["width"] - 8,
            "height": area["height"] - 8,
        }
    )
    with Image.open(io.BytesIO(png)) as picture:
        colours = picture.convert("RGB").getcolors(1 << 20) or []
    return max(colours)[1]  # type: ignore[no-any-return]


def test_touch_targets_save_on_screen_errors_by_their_field_and_a_strong_main_action(
    city: City, app_server: AppServer, browser: Any, tmp_path: Path
) -> None:
    city.add_worker("zhou.min", "周敏", "worker", grids="441502001001001")
    code, _ = city.enroll_code("zhou.min")
    photo = pictures.write(tmp_path, "broken")
    phone = Phone(browser, app_server.url, locale="zh-CN", lat=GRID_1[0], lon=GRID_1[1])
    phone.fill("服务器地址", city.url)
    phone.fill("注册码", code)
    phone.tap_until("注册", "欢迎，周敏", exact=True)
    phone.start_work()
    # The city is shared by the session's browser tests: her grid may already hold their cases, so wait
    # for the home screen's main action rather than for an empty list.
    phone.see("上报新问题")
    phone.settle(1.0)
    assert small_targets(phone) == []

    # --- the main action: the strongest contrast on the home screen, 56 px high ------------------------
    action = box(phone, "上报新问题", "button")
    assert action["height"] >= 55.5
    fill = dominant(phone, action)
    page_colour = dominant(phone, {"x": 0, "y": 300, "width": 412, "height": 40})
    assert contrast(fill, page_colour) >= 7, (fill, page_colour)

    # --- the report: a missing field's message is on screen, in its part of the screen ---------------
    phone.tab("上报")
    phone.see("精度约 8 米")
    phone.tap("保存上报")
    phone.see("请选择问题类别。")
    message = box(phone, "请选择问题类别。")
    category = box(phone, "问题类别")
    assert category["y"] < message["y"] < category["y"] + 260  # under its own title
    assert message["y"] + message["height"] <= HEIGHT - NAV_BAR
    assert small_targets(phone) == []

    # --- scrolled down, a save with fields missing brings the first one back into view ------------------
    phone.page.mouse.move(200, 500)
    phone.page.mouse.wheel(0, 3000)
    phone.settle(1.0)
    assert box(phone, "问题类别")["y"] < 0  # the category part is scrolled away
    phone.tap("保存上报")
    phone.settle(1.5)
    message = box(phone, "请选择问题类别。")
    assert message["y"] >= 0 and message["y"] + message["height"] <= HEIGHT - NAV_BAR, message

    # --- with a photo attached, save needs no swipe ------------------------------------------------------
    phone.tap("选择类别")
    phone.settle(0.6)
    assert box(phone, "取消", "button")["height"] >= 47.5  # the dialog's button (rows scroll, clipped)
    phone.fill("搜索类别", "井盖")
    phone.tap_row("井盖缺失或破损")
    phone.choose_files("从相册选择", photo)
    phone.see("照片 (1)")
    phone.settle(1.0)
    save = box(phone, "保存上报", "button")
    assert save["y"] >= 0 and save["y"] + save["height"] <= HEIGHT - NAV_BAR, save
    assert save["height"] >= 55.5
    assert small_targets(phone) == []
    phone.tap("保存上报")
    phone.see("待立案")
    phone.settle(1.0)
    assert small_targets(phone) == []  # the new case's screen

    # --- and on every other screen of the worker ------------------------------------------------------
    for tab, word in (
        ("地图", "底图需要网络"),
        ("同步", "导出交接文件"),
        ("设置", "语言"),
        ("我的工作", "全部"),
    ):
        phone.tab(tab)
        phone.see(word)
        phone.settle(1.5)
        assert small_targets(phone) == [], tab

    phone.close()
