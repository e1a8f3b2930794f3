"""Failures of the device core that are not refusals from the catalogue.

A refusal by the server (or by the shared rules, checked locally first) is a `GridsyncError` with a
stable code. Not reaching the server at all is different: nothing was refused, the work simply waits
for the next round. That is a `NetworkError`, and a sync round turns it into words in its report.
"""

from __future__ import annotations


class NetworkError(Exception):
    """The server could not be reached, or answered with something that is not the API (a captive
    portal, a proxy error page, a cut connection). Nothing was decided; try again later."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        self.detail = detail
        self.status = status
        super().__init__(detail)

    def message(self, lang: str = "en") -> str:
        if lang.startswith("zh"):
            return "无法连接服务器，数据已保存在手机上，稍后会自动重试。"
        return "The server cannot be reached. Your work is saved on the phone and will be sent later."
