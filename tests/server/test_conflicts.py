"""Hard conflicts go to supervisor review, over HTTP and the admin CLI, audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sync_server.cli import main
from tests.server.device import TestDevice, hex32


def _conflicted_case(zhang: TestDevice, supervisor: TestDevice) -> tuple[str, str]:
    case_id = hex32()
    zhang.push_ops([zhang.create(case_id)])
    supervisor.push_ops([supervisor.edit(case_id, 1, description="井盖缺失")])
    outcome = zhang.push_ops([zhang.edit(case_id, 1, description="井盖破裂")])["outcomes"][0]
    assert outcome["outcome"] == "hard_conflict"
    return case_id, outcome["op_id"]


def _post(device: TestDevice, case_id: str, conflict_id: str, body: dict[str, Any]) -> Any:
    path = f"/v1/conflicts/{case_id}/{conflict_id}"
    raw = json.dumps(body).encode()
    headers = {**device.headers("POST", path, "", raw), "Content-Type": "application/json"}
    return device.client.post(path, content=raw, headers=headers)


def test_a_supervisor_lists_and_resolves_a_conflict_and_it_is_audited(
    enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    zhang, supervisor = enrolled("zhang.wei"), enrolled("chen.sup")
    case_id, conflict_id = _conflicted_case(zhang, supervisor)
    listed = supervisor.get("/v1/conflicts").json()["conflicts"]
    assert [(c["case_id"], c["conflict"]["conflict_id"], c["conflict"]["proposed"]) for c in listed] == [
        (case_id, conflict_id, "井盖破裂")
    ]
    case = _post(supervisor, case_id, conflict_id, {"choice": "take"}).json()
    assert case["description"] == "井盖破裂" and case["hard_conflict"] is False
    assert supervisor.get("/v1/conflicts").json() == {"conflicts": []}
    audit = services.store.audit_rows(case_id)
    assert (audit[-1].kind, audit[-1].actor, audit[-1].flags) == ("resolve_conflict", "chen.sup", "review")
    again = _post(supervisor, case_id, conflict_id, {"choice": "keep"})
    assert again.json()["error"]["code"] == "case.conflict_unknown"


def test_a_worker_may_neither_list_nor_resolve_conflicts(enrolled: Callable[[str], TestDevice]) -> None:
    zhang, supervisor = enrolled("zhang.wei"), enrolled("chen.sup")
    case_id, conflict_id = _conflicted_case(zhang, supervisor)
    assert zhang.get("/v1/conflicts").json()["error"]["code"] == "request.forbidden"
    assert _post(zhang, case_id, conflict_id, {"choice": "take"}).status_code == 403


def test_a_bad_choice_is_request_malformed(enrolled: Callable[[str], TestDevice]) -> None:
    zhang, supervisor = enrolled("zhang.wei"), enrolled("chen.sup")
    case_id, conflict_id = _conflicted_case(zhang, supervisor)
    assert (
        _post(supervisor, case_id, conflict_id, {"choice": "both"}).json()["error"]["code"]
        == "request.malformed"
    )


def test_the_admin_cli_resolves_a_conflict(
    enrolled: Callable[[str], TestDevice], services: Any, data_dir: Any, capsys: Any
) -> None:
    zhang, supervisor = enrolled("zhang.wei"), enrolled("chen.sup")
    case_id, conflict_id = _conflicted_case(zhang, supervisor)
    assert main(["--data-dir", str(data_dir), "admin", "conflicts"]) == 0
    assert conflict_id[:8] in capsys.readouterr().out
    assert main(["--data-dir", str(data_dir), "admin", "resolve", case_id, conflict_id, "keep"]) == 0
    case = services.store.case(case_id)
    assert case.description == "井盖缺失" and not case.hard_conflict


def test_a_resolution_over_http_reaches_the_supervisors_phone_as_an_outcome(
    enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    zhang, supervisor = enrolled("zhang.wei"), enrolled("chen.sup")
    case_id, conflict_id = _conflicted_case(zhang, supervisor)
    cursor = supervisor.pull_all()["cursor"]
    case = _post(supervisor, case_id, conflict_id, {"choice": "keep"}).json()
    page = supervisor.pull(cursor)
    assert [c["version"] for c in page["cases"]] == [case["version"]]
    (outcome,) = page["outcomes"]
    assert (outcome["case_id"], outcome["outcome"], outcome["version"]) == (
        case_id,
        "applied",
        case["version"],
    )
    audit = services.store.audit_rows(case_id)[-1]
    assert (audit.op_id, audit.device_id, audit.flags) == (outcome["op_id"], supervisor.device_id, "review")
    assert zhang.pull(zhang.pull_all()["cursor"])["outcomes"] == []  # only the supervisor's device


def test_a_resolution_from_the_cli_is_recorded_as_the_consoles_outcome_and_audited(
    enrolled: Callable[[str], TestDevice], services: Any, data_dir: Any
) -> None:
    from sync_server.cli_admin import CLI_DEVICE

    zhang, supervisor = enrolled("zhang.wei"), enrolled("chen.sup")
    case_id, conflict_id = _conflicted_case(zhang, supervisor)
    assert main(["--data-dir", str(data_dir), "admin", "resolve", case_id, conflict_id, "take"]) == 0
    (outcome,) = [o.outcome for o in services.store.device_outcomes(CLI_DEVICE, 0, 10)]
    assert (outcome["case_id"], outcome["outcome"]) == (case_id, "applied")
    audit = services.store.audit_rows(case_id)[-1]
    assert (audit.actor, audit.kind, audit.flags) == ("admin", "resolve_conflict", "review")
