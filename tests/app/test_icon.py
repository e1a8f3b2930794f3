"""The app icon: one picture, drawn by build/make_icon.py, where `flet build` looks for it, and the
favicon and web-app icons of the served web app made from it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from mobile.app import main

REPO = Path(__file__).resolve().parents[2]
ICON = REPO / "assets" / "icon.png"  # flet build: <app path>/assets/icon.png, the app path is the root


def test_the_icon_is_an_opaque_1024_square_in_the_apps_blue_and_is_what_the_script_draws() -> None:
    spec = importlib.util.spec_from_file_location("make_icon", REPO / "build" / "make_icon.py")
    assert spec is not None and spec.loader is not None
    make_icon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icon)
    with Image.open(ICON) as committed:
        assert committed.size == (1024, 1024) and committed.mode == "RGB"  # no alpha: iOS refuses it
        assert committed.getpixel((8, 8)) == make_icon.BLUE == (13, 71, 161)  # the app bar's BLUE_900
        difference = ImageStat.Stat(ImageChops.difference(committed, make_icon.draw())).mean
    assert max(difference) < 1.0, "assets/icon.png is stale: run build/make_icon.py"


def test_the_served_web_app_gets_its_favicon_and_web_app_icons_from_the_icon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(main.DATA_ENV, str(tmp_path))
    folder = main.web_assets()
    assert (folder / "icon.png").read_bytes() == ICON.read_bytes()
    for name, size in main.WEB_ICONS.items():
        with Image.open(folder / name) as icon:
            assert icon.size == (size, size), name
            assert icon.convert("RGB").getpixel((1, 1)) == (13, 71, 161), name
