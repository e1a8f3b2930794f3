"""The server checks authority on every op (role × action × own/other grid), through real segments."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import pytest

from tests.server.device import SPOT_A, SPOT_B, TestDevice, hex32


def _case_in(reporter: TestDevice, spot: dict[str, Any]) -> str:
    case_id = hex32()
    receipt = reporter.push_ops([reporter.create(case_id, spot=spot)])
    assert receipt["outcomes"][0]["outcome"] == "applied", receipt
    return case_id


@pytest.mark.parametrize(
    ("person", "spot", "expected"),
    [
        ("zhang.wei", SPOT_A, None),  # a worker in their own grid
        ("zhang.wei", SPOT_B, "case.outside_grid"),  # another worker's grid
        ("chen.sup", SPOT_A, None),
        ("wang.h", SPOT_A, "case.not_allowed"),  # handlers do not report
        ("admin1", SPOT_B, None),
    ],
)
def test_who_may_report_where(
    enrolled: Callable[[str], TestDevice], person: str, spot: Any, expected: Any
) -> None:
    device = enrolled(person)
    outcome = device.push_ops([device.create(spot=spot)])["outcomes"][0]
    assert outcome["code"] == expected


@pytest.mark.parametrize(
    ("person", "own_grid", "expected"),
    [
        ("zhang.wei", True, "case.not_allowed"),  # workers do not file
        ("zhang.wei", False, "case.outside_grid"),
        ("li.na", True, "case.outside_grid"),
        ("wang.h", True, "case.not_allowed"),  # not the handler's department (yet)
        ("chen.sup", True, None),
        ("admin1", True, None),
    ],
)
def test_who_may_file_a_case(
    enrolled: Callable[[str], TestDevice], person: str, own_grid: bool, expected: Any
) -> None:
    reporter = enrolled("zhang.wei" if own_grid else "li.na")
    case_id = _case_in(reporter, SPOT_A if own_grid else SPOT_B)
    device = reporter if person == reporter.worker_id else enrolled(person)
    outcome = device.push_ops([device.move(case_id, "file")])["outcomes"][0]
    assert outcome["code"] == expected


def test_only_the_departments_handler_may_start_a_dispatched_case(
    enrolled: Callable[[str], TestDevice],
) -> None:
    worker, supervisor, handler = enrolled("zhang.wei"), enrolled("chen.sup"), enrolled("wang.h")
    case_id = _case_in(worker, SPOT_A)
    supervisor.push_ops([supervisor.move(case_id, "file")])  # category 0101 → municipal
    assert worker.push_ops([worker.move(case_id, "start", 2)])["outcomes"][0]["code"] == "case.not_allowed"
    assert handler.push_ops([handler.move(case_id, "start", 2)])["outcomes"][0]["outcome"] == "applied"


def _uploaded(device: TestDevice) -> str:
    """The sha256 of a blob this device uploaded whole (closure counts only photos that arrived)."""
    blob = os.urandom(2000)
    sha, query = hashlib.sha256(blob).hexdigest(), f"offset=0&size={len(blob)}"
    path = f"/v1/photos/{sha}"
    headers = device.headers("PUT", path, query, blob)
    assert device.client.put(f"{path}?{query}", content=blob, headers=headers).json()["complete"] is True
    return sha


def test_the_full_closed_loop_runs_through_segments(
    enrolled: Callable[[str], TestDevice], services: Any
) -> None:
    worker, supervisor, handler = enrolled("zhang.wei"), enrolled("chen.sup"), enrolled("wang.h")
    case_id = _case_in(worker, SPOT_A)
    worker.push_ops([worker.photo(case_id, "before", _uploaded(worker))])
    supervisor.push_ops([supervisor.move(case_id, "file")])
    handler.push_ops(
        [
            handler.move(case_id, "start"),
            handler.photo(case_id, "after", _uploaded(handler)),
            handler.move(case_id, "report_back"),
        ]
    )
    assert worker.push_ops([worker.move(case_id, "close")])["outcomes"][0]["code"] == "case.bad_transition"
    worker.push_ops(
        [worker.photo(case_id, "verification", _uploaded(worker)), worker.move(case_id, "verify")]
    )
    assert worker.push_ops([worker.move(case_id, "close")])["outcomes"][0]["code"] == "case.not_allowed"
    outcome = supervisor.push_ops([supervisor.move(case_id, "close")])["outcomes"][0]
    assert outcome["outcome"] == "applied"
    case = services.store.case(case_id)
    assert case.status == "closed" and case.handler == "wang.h" and case.closed_at is not None
