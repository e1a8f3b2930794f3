"""A simulated day in the field: virtual phones patrol, report, go offline, collide, handle, verify
and close, then sync until quiet and are checked against the server.

Every phone is a real `Device` with its own store in a temporary folder, talking to the server over
HTTP. The truth to compare against comes from the server's own API: an auditor phone enrolled as a
city-wide supervisor pulls every case, and `shared.rules.can_see` says which cases each phone must
hold. Choices are drawn from one seeded `random.Random`, candidates always in a stable order, so a
seed replays the same story (only timing and random ids differ).
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from mobile.core.views import CaseView
from mobile.sim.admin import ServerAdmin
from mobile.sim.scenery import Person, cast, fix_in, incident_photo
from shared.errors import GridsyncError
from shared.model import case_from_dict, case_to_dict
from shared.rules import can_see


class CityMissing(RuntimeError):
    """The server knows no city to patrol: phones would have no grids to walk, no categories to report
    and no departments to hand cases to."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"the server's city has no {', '.join(missing[:-1]) + ' or ' if len(missing) > 1 else ''}"
            f"{missing[-1]}: a simulated day needs a city. Load one on the server, then run again: "
            "`gridsync-server --data-dir DIR admin import-departments departments.csv`, then "
            "`import-categories categories.csv`, `import-grids grids.geojson` and `import-calendar "
            "calendar.json` (the demo city's files are in sync_server/data/demo_city/), or set up a new "
            "data directory with `gridsync-server init --demo`"
        )
        self.missing = missing


@dataclass
class Phone:
    person: Person
    device: Device
    online: bool = True
    ops_sent: int = 0
    refused_locally: int = 0


@dataclass
class Outcome:
    phones: list[Phone]
    server_cases: dict[str, dict[str, Any]]
    disagreements: list[str] = field(default_factory=list)
    conflicts_made: int = 0
    photos: int = 0


class Simulation:
    def __init__(
        self,
        server_url: str,
        data_dir: Path,
        *,
        devices: int,
        seed: int,
        rounds: int = 3,
        passphrase_env: str = "GRIDSYNC_PASSPHRASE",
        workdir: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.server_url = server_url
        self.admin = ServerAdmin(Path(data_dir), passphrase_env)
        self.n = devices
        self.rng = random.Random(seed)
        self.rounds = rounds
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gridsync-sim-"))
        self.transport = transport
        self.log = log
        self.phones: list[Phone] = []
        self.labels = 0
        self.conflicts_made = 0

    # --- setting up ------------------------------------------------------------------------------

    async def _enroll(self, person: Person, folder: str) -> Device:
        self.admin.add_worker(
            person.worker_id,
            name=person.name,
            role=person.role,
            grids=list(person.grids),
            department=person.department,
            all_grids=person.all_grids,
        )
        code, fingerprint = self.admin.enroll_code(person.worker_id)
        device = Device.open(self.workdir / folder, MemorySecretStore(), transport=self.transport)
        await device.enroll(self.server_url, code, fingerprint, device_name=f"sim {person.worker_id}")
        return device

    async def setup(self) -> None:
        # A first phone learns the city (grids, departments) so the cast can be placed in it.
        scout = await self._enroll(
            Person("sim.supervisor", "Supervisor", "supervisor", all_grids=True), "supervisor"
        )
        grid_codes = sorted(g.code for g in scout.grids())
        categories = scout.categories()
        departments = sorted({c.department for c in categories})
        missing = [name for name, known in (("grids", grid_codes), ("categories", categories),
                                            ("departments", departments)) if not known]  # fmt: skip
        if missing:
            scout.close()
            raise CityMissing(missing)
        people = cast(self.n, grid_codes, departments)
        self.phones.append(Phone(people[0], scout))
        for person in people[1:]:
            self.phones.append(Phone(person, await self._enroll(person, person.worker_id)))
        self.log(f"enrolled {len(self.phones)} phones: " + ", ".join(p.person.worker_id for p in self.phones))

    # --- one round of field work -------------------------------------------------------------------

    def _label(self) -> str:
        self.labels += 1
        return f"sim #{self.labels}"

    def _try(self, phone: Phone, action: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
        """Do one thing on a phone; a refusal by the local rules is counted, as a person would see it."""
        try:
            action(*args, **kwargs)
        except GridsyncError:
            phone.refused_locally += 1
            return False
        return True

    @staticmethod
    def _stable(views: list[CaseView]) -> list[CaseView]:
        return sorted(views, key=lambda v: (v.case.description, v.case.case_id))

    def patrol(self, phone: Phone) -> None:
        device = phone.device
        cells = [g for g in device.grids() if g.code in phone.person.grids]
        categories = sorted(c.code for c in device.categories())
        for _ in range(self.rng.randint(1, 2)):
            cell = self.rng.choice(cells)
            on_spot = self.rng.random() < 0.2
            photos = [(incident_photo(self.rng), "before")]
            if on_spot:
                photos.append((incident_photo(self.rng), "after"))
            location = fix_in(cell, self.rng, device.clock())
            category = self.rng.choice(categories)
            label = self._label()
            self._try(
                phone,
                device.report,
                category=category,
                location=location,
                description=label,
                photos=photos,
                on_spot=on_spot,
            )

    def collide(self) -> None:
        """Two phones that can both see a case edit the same field while apart."""
        editors = [p for p in self.phones if p.person.role in ("worker", "supervisor")]
        for a in editors:
            for b in editors:
                if a is b:
                    continue
                shared_cases = [
                    v
                    for v in self._stable(a.device.cases(status="reported"))
                    if b.device.case(v.case_id) is not None
                ]
                if shared_cases:
                    case = self.rng.choice(shared_cases)
                    a_text, b_text = (
                        f"{case.description} (seen by {a.person.worker_id})",
                        f"{case.description} ({b.person.worker_id})",
                    )
                    self._try(a, a.device.edit, case.case_id, address=a_text)
                    self._try(b, b.device.edit, case.case_id, address=b_text)
                    self.conflicts_made += 1
                    return

    def supervise(self, phone: Phone) -> None:
        device = phone.device
        handlers = [p.person.department for p in self.phones if p.person.role == "handler"]
        for view in self._stable(device.cases()):
            case_id, status = view.case_id, view.status
            if view.pending:
                continue
            for conflict in view.case.open_conflicts():
                choice = self.rng.choice(["keep", "take"])
                self._try(phone, device.resolve_conflict, case_id, conflict.conflict_id, choice)
            roll = self.rng.random()
            if status == "reported" and view.on_spot:
                self._try(phone, device.transition, case_id, "close")
            elif status == "reported":
                if roll < 0.1:
                    self._try(phone, device.transition, case_id, "reject", reason="not a city matter")
                elif handlers:
                    department = self.rng.choice(handlers)
                    self._try(phone, device.transition, case_id, "file", department=department)
            elif status == "verified":
                if roll < 0.2:
                    self._try(phone, device.transition, case_id, "rework", reason="not clean yet")
                else:
                    self._try(phone, device.transition, case_id, "close")
            elif status == "handling" and view.extension_hours is not None:
                self._try(phone, device.transition, case_id, "approve_extension")

    def handle(self, phone: Phone) -> None:
        device = phone.device
        for view in self._stable(device.cases()):
            if view.pending:
                continue
            if view.status == "dispatched":
                self._try(phone, device.transition, view.case_id, "start")
            elif view.status == "handling":
                if self.rng.random() < 0.15 and view.extension_hours is None:
                    self._try(
                        phone,
                        device.transition,
                        view.case_id,
                        "request_extension",
                        reason="parts on order",
                        hours=8,
                    )
                    continue
                photo = incident_photo(self.rng)
                self._try(phone, device.add_photo, view.case_id, photo, "after")
                self._try(phone, device.transition, view.case_id, "report_back")

    def verify(self, phone: Phone) -> None:
        device = phone.device
        for view in self._stable(device.cases(status="reported_back")):
            if view.pending or view.grid_code not in phone.person.grids:
                continue
            photo = incident_photo(self.rng)
            self._try(phone, device.add_photo, view.case_id, photo, "verification")
            self._try(phone, device.transition, view.case_id, "verify")

    async def sync(self, phone: Phone) -> bool:
        report = await phone.device.sync()
        phone.ops_sent += report.ops_sent
        for problem in report.problems:
            self.log(f"  {phone.person.worker_id}: {problem}")
        return report.ops_sent > 0 or report.cases_received > 0 or report.photos_uploaded > 0

    async def round(self, number: int) -> None:
        for phone in self.phones:
            phone.online = self.rng.random() > 0.25  # out of coverage this round: works offline
        for phone in self.phones:
            role = phone.person.role
            if role == "worker":
                self.patrol(phone)
                self.verify(phone)
            elif role == "handler":
                self.handle(phone)
            else:
                self.supervise(phone)
        if self.rng.random() < 0.7:
            self.collide()
        order = list(self.phones)
        self.rng.shuffle(order)
        for phone in order:
            if phone.online:
                await self.sync(phone)
        offline = [p.person.worker_id for p in self.phones if not p.online]
        self.log(f"round {number}: offline {offline or 'nobody'}")

    # --- the end: quiet, then compare ---------------------------------------------------------------

    async def settle(self, max_passes: int = 12) -> None:
        for _ in range(max_passes):
            busy = False
            for phone in self.phones:
                busy |= await self.sync(phone)
            if not busy:
                return

    async def audit(self) -> Outcome:
        auditor_person = Person("sim.auditor", "Auditor", "supervisor", all_grids=True)
        auditor = await self._enroll(auditor_person, "auditor")
        report = await auditor.sync()
        truth = {v.case_id: case_to_dict(v.case) for v in auditor.cases()}
        outcome = Outcome(self.phones, truth, conflicts_made=self.conflicts_made)
        if not report.ok:
            outcome.disagreements.append(f"auditor could not sync: {report.summary()}")
        outcome.photos = sum(len(doc["photos"]) for doc in truth.values())
        for phone in self.phones:
            outcome.disagreements += self._compare(phone, truth)
        auditor.close()
        return outcome

    def _compare(self, phone: Phone, truth: dict[str, dict[str, Any]]) -> list[str]:
        device, who = phone.device, phone.person.worker_id
        problems = []
        pending = device.pending()
        if not pending.empty:
            problems.append(f"{who}: still has {pending.ops} ops and {pending.photos} photos pending")
        actor = device.identity.actor() if device.identity else None
        local = {v.case_id: v for v in device.cases()}
        for case_id, doc in truth.items():
            if actor is not None and can_see(case_from_dict(doc), actor) and case_id not in local:
                problems.append(f"{who}: does not hold case {doc['case_no']}")
        for case_id, view in local.items():
            server_doc = truth.get(case_id)
            if server_doc is None:
                if not any(p.kind == "rejected" for p in view.problems):
                    problems.append(f"{who}: holds case {case_id} the server does not have")
            elif case_to_dict(view.case) != server_doc:
                problems.append(
                    f"{who}: case {server_doc['case_no']} differs (v{view.case.version} vs v{server_doc['version']})"
                )
        return problems

    async def run(self) -> Outcome:
        await self.setup()
        for number in range(1, self.rounds + 1):
            await self.round(number)
        await self.settle()
        outcome = await self.audit()
        return outcome

    def close(self) -> None:
        for phone in self.phones:
            phone.device.close()
