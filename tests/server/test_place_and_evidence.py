"""The server derives place and evidence, and tells a foreign thing from a missing one the same way
(issue 10, items 6, 7 and 8), reproduced from the outside: signed requests and sealed segments."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from sync_server.enrollment import add_worker
from tests.server.device import GRID_A, GRID_B, SPOT_A, SPOT_B, TestDevice, hex32

BEIJING = {"lat": 39.9042, "lon": 116.4074, "accuracy_m": 5.0, "source": "gps"}
NO_SUCH_GRID = "441502999999999"


def _case_by(device: TestDevice, spot: dict[str, Any] = SPOT_A, **extra: Any) -> str:
    op = device.create(spot=spot)
    op["payload"].update(extra)
    outcome = device.push_ops([op])["outcomes"][0]
    assert outcome["outcome"] == "applied", outcome
    return str(op["case_id"])


def _put(device: TestDevice, sha: str, offset: int, size: int, chunk: bytes) -> Any:
    path, query = f"/v1/photos/{sha}", f"offset={offset}&size={size}"
    return device.client.put(
        f"{path}?{query}", content=chunk, headers=device.headers("PUT", path, query, chunk)
    )


def _upload(device: TestDevice) -> tuple[str, bytes]:
    blob = os.urandom(3000)
    sha = hashlib.sha256(blob).hexdigest()
    assert _put(device, sha, 0, len(blob), blob).json()["complete"] is True
    return sha, blob


def _code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --- item 6: workers move cases out of their grids -----------------------------------------------


def test_an_edit_naming_grid_b_for_another_workers_grid_a_case_is_refused(
    enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    supervisor, zhang = enrolled("chen.sup"), enrolled("zhang.wei")
    case_id = _case_by(supervisor)
    outcome = zhang.push_ops([zhang.edit(case_id, 1, grid_code=GRID_B)])["outcomes"][0]
    assert (outcome["outcome"], outcome["code"]) == ("rejected", "case.grid_derived")
    assert services.store.case(case_id).grid_code == GRID_A


def test_an_edit_naming_a_grid_that_does_not_exist_is_refused(worker: TestDevice, services: Any) -> None:
    case_id = _case_by(worker)
    outcome = worker.push_ops([worker.edit(case_id, 1, grid_code=NO_SUCH_GRID)])["outcomes"][0]
    assert (outcome["outcome"], outcome["code"]) == ("rejected", "case.grid_derived")
    assert services.store.case(case_id).grid_code == GRID_A


def test_a_worker_moving_a_case_to_beijing_is_refused_and_nothing_moves(
    worker: TestDevice, services: Any
) -> None:
    case_id = _case_by(worker)
    outcome = worker.push_ops([worker.edit(case_id, 1, location=BEIJING)])["outcomes"][0]
    assert (outcome["outcome"], outcome["code"]) == ("rejected", "case.no_grid")
    case = services.store.case(case_id)
    assert (case.grid_code, case.location.lat, case.version) == (GRID_A, SPOT_A["lat"], 1)


def test_a_worker_moving_a_case_into_a_grid_they_do_not_cover_is_refused(
    worker: TestDevice, services: Any
) -> None:
    case_id = _case_by(worker)
    outcome = worker.push_ops([worker.edit(case_id, 1, location=SPOT_B)])["outcomes"][0]
    assert (outcome["outcome"], outcome["code"]) == ("rejected", "case.outside_grid")
    assert services.store.case(case_id).grid_code == GRID_A


def test_a_report_located_in_beijing_naming_grid_a_is_refused(worker: TestDevice, services: Any) -> None:
    op = worker.create(spot=BEIJING)
    op["payload"]["grid_code"] = GRID_A
    outcome = worker.push_ops([op])["outcomes"][0]
    assert (outcome["outcome"], outcome["code"]) == ("rejected", "case.no_grid")
    assert services.store.case(op["case_id"]) is None


def test_a_report_in_grid_b_naming_grid_a_is_refused_for_a_grid_a_worker(worker: TestDevice) -> None:
    op = worker.create(spot=SPOT_B)
    op["payload"]["grid_code"] = GRID_A
    assert worker.push_ops([op])["outcomes"][0]["code"] == "case.outside_grid"


def test_a_supervisor_may_place_a_case_outside_every_grid_and_the_op_log_says_so(
    supervisor: TestDevice, services: Any
) -> None:
    op = supervisor.create(spot=BEIJING)
    op["payload"]["grid_code"] = GRID_A
    outcome = supervisor.push_ops([op])["outcomes"][0]
    assert (outcome["outcome"], outcome["detail"]) == ("applied", "outside every grid")
    assert services.store.case(op["case_id"]).grid_code == ""
    audit = services.store.audit_rows(op["case_id"])
    assert [(a.actor, a.kind, a.outcome) for a in audit] == [("chen.sup", "create", "applied")]


# --- item 7: photo references cross grids ----------------------------------------------------------


def test_naming_another_cases_photo_does_not_give_its_blob(enrolled: Callable[[str], TestDevice]) -> None:
    li, zhang = enrolled("li.na"), enrolled("zhang.wei")
    sha, _ = _upload(li)
    theirs = hex32()
    li.push_ops([li.create(theirs, spot=SPOT_B), li.photo(theirs, "before", sha)])
    mine = _case_by(zhang)
    outcome = zhang.push_ops([zhang.photo(mine, "before", sha)])["outcomes"][0]
    assert (outcome["outcome"], outcome["code"]) == ("rejected", "photo.foreign")
    assert _code(zhang.get(f"/v1/photos/{sha}")) == (404, "photo.unknown")


def test_naming_a_blob_another_phone_uploaded_is_refused_even_before_any_case_holds_it(
    enrolled: Callable[[str], TestDevice],
) -> None:
    li, zhang = enrolled("li.na"), enrolled("zhang.wei")
    sha, _ = _upload(li)
    mine = _case_by(zhang)
    assert zhang.push_ops([zhang.photo(mine, "before", sha)])["outcomes"][0]["code"] == "photo.foreign"


def test_upload_status_is_only_for_the_phone_that_uploads(enrolled: Callable[[str], TestDevice]) -> None:
    li, zhang = enrolled("li.na"), enrolled("zhang.wei")
    blob = os.urandom(4000)
    sha = hashlib.sha256(blob).hexdigest()
    _put(li, sha, 0, len(blob), blob[:1000])
    assert li.get(f"/v1/photos/{sha}/status").json() == {"received": 1000, "size": 4000, "complete": False}
    assert _code(zhang.get(f"/v1/photos/{sha}/status")) == (403, "photo.foreign")
    assert _code(_put(zhang, sha, 1000, len(blob), blob[1000:])) == (403, "photo.foreign")
    assert _put(li, sha, 1000, len(blob), blob[1000:]).json()["complete"] is True
    assert _code(zhang.get(f"/v1/photos/{sha}/status")) == (403, "photo.foreign")


def _reported_back(worker: TestDevice, supervisor: TestDevice, handler: TestDevice, after: str) -> str:
    """A case filed, handled, and reported back with an after photo named `after`; the before photo
    arrived."""
    before, _ = _upload(worker)
    case_id = _case_by(worker)
    worker.push_ops([worker.photo(case_id, "before", before)])
    supervisor.push_ops([supervisor.move(case_id, "file")])
    handler.push_ops([handler.move(case_id, "start"), handler.photo(case_id, "after", after),
                      handler.move(case_id, "report_back")])  # fmt: skip
    return case_id


def test_a_case_is_not_closed_on_an_after_photo_that_never_arrived(
    enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    worker, supervisor, handler = enrolled("zhang.wei"), enrolled("chen.sup"), enrolled("wang.h")
    after = os.urandom(2000)
    after_sha = hashlib.sha256(after).hexdigest()
    case_id = _reported_back(worker, supervisor, handler, after_sha)
    verification, _ = _upload(worker)
    worker.push_ops([worker.photo(case_id, "verification", verification), worker.move(case_id, "verify")])
    assert services.store.case(case_id).status == "verified"
    outcome = supervisor.push_ops([supervisor.move(case_id, "close")])["outcomes"][0]
    assert (outcome["outcome"], outcome["code"]) == ("rejected", "case.after_not_arrived")
    assert services.store.case(case_id).status == "verified"
    assert _put(handler, after_sha, 0, len(after), after).json()["complete"] is True
    assert supervisor.push_ops([supervisor.move(case_id, "close")])["outcomes"][0]["outcome"] == "applied"
    assert services.store.case(case_id).status == "closed"


def test_verification_on_a_photo_that_never_arrived_is_refused(
    enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    worker, supervisor, handler = enrolled("zhang.wei"), enrolled("chen.sup"), enrolled("wang.h")
    after, _ = _upload(handler)
    case_id = _reported_back(worker, supervisor, handler, after)
    outcome = worker.push_ops([worker.photo(case_id, "verification"), worker.move(case_id, "verify")])
    assert [(o["outcome"], o["code"]) for o in outcome["outcomes"]] == [
        ("applied", None),
        ("rejected", "case.verification_not_arrived"),
    ]
    assert services.store.case(case_id).status == "reported_back"


# --- item 8: a foreign case answers like a missing one ---------------------------------------------


def _resolve(device: TestDevice, case_id: str, conflict_id: str) -> Any:
    path, raw = f"/v1/conflicts/{case_id}/{conflict_id}", json.dumps({"choice": "keep"}).encode()
    headers = {**device.headers("POST", path, "", raw), "Content-Type": "application/json"}
    return device.client.post(path, content=raw, headers=headers)


def test_resolving_a_conflict_on_a_foreign_case_answers_as_for_a_missing_one(
    enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    add_worker(services.store, "sun.sup", name="孙主任", role="supervisor", grids=[GRID_B])
    zhang, supervisor, outsider = enrolled("zhang.wei"), enrolled("chen.sup"), enrolled("sun.sup")
    case_id = _case_by(zhang)
    supervisor.push_ops([supervisor.edit(case_id, 1, description="井盖缺失")])
    conflict_id = zhang.push_ops([zhang.edit(case_id, 1, description="井盖破裂")])["outcomes"][0]["op_id"]
    foreign, missing = _resolve(outsider, case_id, conflict_id), _resolve(outsider, hex32(), conflict_id)
    assert _code(foreign) == _code(missing) == (404, "case.unknown")
    assert foreign.json()["error"]["detail"] == missing.json()["error"]["detail"]
    assert services.store.case(case_id).hard_conflict is True


def test_downloading_a_foreign_photo_answers_as_for_a_missing_one(
    enrolled: Callable[[str], TestDevice],
) -> None:
    li, zhang = enrolled("li.na"), enrolled("zhang.wei")
    sha, _ = _upload(li)
    case_id = hex32()
    li.push_ops([li.create(case_id, spot=SPOT_B), li.photo(case_id, "before", sha)])
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    assert (
        _code(zhang.get(f"/v1/photos/{sha}"))
        == _code(zhang.get(f"/v1/photos/{missing}"))
        == (404, "photo.unknown")
    )
