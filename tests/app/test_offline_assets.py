"""Everything a page needs comes from this machine: the app's web client asks no CDN (Rive's
`rive_native.js` was fetched from jsDelivr), and the sync server's `/docs` page draws with no
internet (Swagger UI was loaded from a CDN). Any request to another host is recorded and refused."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.app.browser_fixtures import AppServer, City

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOCAL = {"127.0.0.1", "localhost"}


def offline_page(browser: Any) -> tuple[Any, Any, list[str]]:
    """A page whose requests to any other host are refused, and listed."""
    context = browser.new_context(viewport={"width": 412, "height": 915}, locale="zh-CN")
    elsewhere: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).hostname in LOCAL or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page, elsewhere


def test_the_app_asks_no_other_host_for_anything(app_server: AppServer, browser: Any) -> None:
    context, page, elsewhere = offline_page(browser)
    page.goto(app_server.url)
    page.wait_for_selector("flt-semantics-placeholder", state="attached")
    page.evaluate("document.querySelector('flt-semantics-placeholder').click()")
    page.get_by_text("设备注册").first.wait_for()
    time.sleep(3)  # what the client loads after the first frame (Rive's runtime did)
    context.close()
    assert elsewhere == []


def test_the_servers_api_docs_draw_with_no_internet(city: City, browser: Any) -> None:
    context, page, elsewhere = offline_page(browser)
    page.goto(city.url + "/docs")
    page.locator(".swagger-ui .info .title").first.wait_for()
    assert "gridsync sync server" in page.locator(".swagger-ui .info .title").first.inner_text()
    page.get_by_text("/v1/enroll").first.wait_for()  # the operations are listed
    time.sleep(1)
    context.close()
    assert elsewhere == []
