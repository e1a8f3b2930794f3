"""Which screen draws which route."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mobile.app.views.approvals import ApprovalsScreen
from mobile.app.views.case import CaseScreen
from mobile.app.views.enroll import EnrollScreen
from mobile.app.views.home import HomeScreen
from mobile.app.views.map import MapScreen
from mobile.app.views.report import ReportScreen
from mobile.app.views.settings import SettingsScreen
from mobile.app.views.sync import SyncScreen

if TYPE_CHECKING:
    from mobile.app.views.screen import Screen
    from mobile.app.views.shell import Shell

__all__ = ["CaseScreen", "EnrollScreen", "for_route"]

ROUTES = {
    "/enroll": EnrollScreen,
    "/home": HomeScreen,
    "/report": ReportScreen,
    "/map": MapScreen,
    "/approvals": ApprovalsScreen,
    "/sync": SyncScreen,
    "/settings": SettingsScreen,
}


def for_route(shell: Shell, route: str) -> Screen:
    return ROUTES.get(route, HomeScreen)(shell)
