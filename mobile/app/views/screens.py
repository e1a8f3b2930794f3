"""Which screen draws which route: the table `main` hands the shell at start."""

from __future__ import annotations

from mobile.app.views.approvals import ApprovalsScreen
from mobile.app.views.case import CaseScreen
from mobile.app.views.enroll import EnrollScreen
from mobile.app.views.home import HomeScreen
from mobile.app.views.map import MapScreen
from mobile.app.views.report import ReportScreen
from mobile.app.views.screen import RouteTable
from mobile.app.views.settings import SettingsScreen
from mobile.app.views.sync import SyncScreen

ROUTES = RouteTable(
    screens={
        "/enroll": EnrollScreen,
        "/home": HomeScreen,
        "/report": ReportScreen,
        "/map": MapScreen,
        "/approvals": ApprovalsScreen,
        "/sync": SyncScreen,
        "/settings": SettingsScreen,
    },
    case=CaseScreen,
    fallback=HomeScreen,
)
