"""Enrollment: a server address and a one-time code, typed or read from a `gridsync://` link."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from mobile.app.i18n import Translator
from mobile.core.errors import NetworkError
from shared.enrollment import normalise_code, parse_enroll_link
from shared.errors import GridsyncError

if TYPE_CHECKING:
    from mobile.core.device import Device
    from mobile.core.identity import Identity


#: the server address a new phone is offered before it has one of its own (`make demo` sets it)
DEFAULT_SERVER_ENV = "GRIDSYNC_DEFAULT_SERVER"


def default_server() -> str:
    return os.environ.get(DEFAULT_SERVER_ENV, "").strip()


def enroll_link_in_route(route: str) -> str | None:
    """The enrollment link a route carries, or None.

    A scanned QR code opens `gridsync://enroll?server=…&code=…&fp=…`; the system hands it to the app
    ([tool.flet.deep_linking]) and Flet turns a deep link into a route of its path and query only,
    here `/?server=…&code=…&fp=…`. A browser can be sent the same query (`/enroll?server=…`), and a
    client that passes the link through untouched is understood too."""
    text = route.strip()
    if text.startswith("gridsync://"):
        return text
    parts = urlsplit(text)
    if parts.path.strip("/") not in ("", "enroll"):
        return None
    query = parse_qs(parts.query)
    if not query.get("server") or not query.get("code"):
        return None
    return "gridsync://enroll?" + parts.query


@dataclass(frozen=True, slots=True)
class EnrollProblem:
    """What went wrong, as words for the person (and a code for tests and logs)."""

    code: str
    message: str


class EnrollState:
    def __init__(self, device: Device, tr: Translator, *, device_name: str = "phone") -> None:
        self.device = device
        self.tr = tr
        self.device_name = device_name
        self.server = ""
        self.code = ""
        self.fingerprint: str | None = None
        self.busy = False
        self.problem: EnrollProblem | None = None
        self.identity: Identity | None = None

    def use_link(self, text: str) -> bool:
        """Fill server, code and key fingerprint from a pasted or scanned link."""
        try:
            self.server, self.code, self.fingerprint = parse_enroll_link(text)
        except GridsyncError as exc:
            self.problem = EnrollProblem(exc.code, self.tr.error(exc.code))
            return False
        self.problem = None
        return True

    def set_code(self, text: str) -> None:
        """A pasted link in the code field works too: people paste whatever they were sent."""
        if text.strip().startswith("gridsync://"):
            self.use_link(text)
        else:
            self.code = text

    def set_server(self, text: str) -> None:
        if text.strip() != self.server:
            self.fingerprint = None  # a fingerprint belongs to the server of its link
        self.server = text.strip()

    def _check(self) -> tuple[str, str] | None:
        server = self.server.strip().rstrip("/")
        if not server.startswith(("http://", "https://")):
            self.problem = EnrollProblem("enroll.need_server", self.tr.t("enroll.need_server"))
            return None
        try:
            code = normalise_code(self.code)
        except GridsyncError:
            self.problem = EnrollProblem("enroll.need_code", self.tr.t("enroll.need_code"))
            return None
        return server, code

    async def submit(self) -> Identity | None:
        """Enroll; on failure `problem` says why in words and None is returned."""
        checked = self._check()
        if checked is None:
            self.busy = False
            return None
        server, code = checked
        self.busy, self.problem = True, None
        try:
            self.identity = await self.device.enroll(
                server, code, fingerprint=self.fingerprint, device_name=self.device_name
            )
        except GridsyncError as exc:
            self.problem = EnrollProblem(exc.code, self.tr.error(exc.code))
        except NetworkError:
            self.problem = EnrollProblem("network", self.tr.t("error.network"))
        finally:
            self.busy = False
        return self.identity

    def welcome_lines(self) -> list[str]:
        """Who this phone now belongs to, in words: the welcome, the role, the grids, and the
        department by its name in the app's language (never its code)."""
        ident = self.identity
        if ident is None:
            return []
        lang = self.tr.lang
        names = {g.code: g.name(lang) for g in self.device.grids()}
        grids = (
            self.tr.t("enroll.all_grids")
            if ident.all_grids
            else "、".join(names.get(g, g) for g in ident.grids)
        )
        lines = [
            self.tr.t("enroll.welcome", name=ident.name),
            self.tr.role(ident.role),
            self.tr.t("enroll.grids", grids=grids or "—"),
        ]
        if ident.department:
            dept = next((d for d in self.device.departments() if d.code == ident.department), None)
            lines.append(
                self.tr.t("enroll.department", department=dept.name(lang) if dept else ident.department)
            )
        return lines
