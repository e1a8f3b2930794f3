"""`gridsync-server report` and `export` through the CLI, on a small data set counted by hand:
three cases reported by 张伟 on Monday 2 March 2026 in grid 441502001001001 — one filed to the
municipal works, one rejected, one left waiting."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from sync_server.cli import main
from tests.server.device import GRID_A, SPOT_A, TestDevice, hex32

SECOND_SPOT = {**SPOT_A, "lat": 22.7873}


@pytest.fixture
def three_cases(worker: TestDevice, supervisor: TestDevice) -> list[str]:
    filed, rejected, waiting = hex32(), hex32(), hex32()
    worker.push_ops([worker.create(filed), worker.create(rejected, category="0102"),
                     worker.create(waiting, spot=SECOND_SPOT, description="路灯不亮")])  # fmt: skip
    supervisor.push_ops(
        [supervisor.move(filed, "file"), supervisor.move(rejected, "reject", reason="不属实")]
    )
    return [filed, rejected, waiting]


def test_report_counts_the_days_cases_per_grid_and_worker(
    three_cases: list[str], data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.txt"
    d = ["--data-dir", str(data_dir)]
    assert (
        main(
            [
                *d,
                "report",
                "--start",
                "2026-03-02",
                "--end",
                "2026-03-03",
                "--lang",
                "en",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    rows = {cells[1]: cells[2:] for cells in _rows(out.read_text("utf-8"))}
    # reported, valid (not rejected), closed, closure rate, …, overdue open (the filed case, months on)
    assert rows["441502001001…"] == rows["zhang.wei"] == ["3", "2", "0", "0.0%", "—", "—", "0.0%", "1"]
    assert rows["municipal"][:3] == ["1", "1", "0"] and rows["undispatched"][:3] == ["2", "1", "0"]
    empty = tmp_path / "empty.txt"
    assert main([*d, "report", "--start", "2026-03-03", "--end", "2026-03-04", "--output", str(empty)]) == 0
    assert "zhang.wei" not in empty.read_text("utf-8")


def _rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("│")][:-1] for line in text.splitlines() if line.startswith("│")
    ]


def test_report_refuses_a_bad_date(data_dir: Path, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["--data-dir", str(data_dir), "report", "--start", "2 March"])
    assert "not a date" in capsys.readouterr().err


def test_export_writes_every_case_as_geojson_and_as_csv(
    three_cases: list[str], data_dir: Path, tmp_path: Path, capsys: Any, services: Any
) -> None:
    d = ["--data-dir", str(data_dir)]
    assert main([*d, "export", str(tmp_path / "cases.geojson")]) == 0
    assert "3 cases written" in capsys.readouterr().out
    features = json.loads((tmp_path / "cases.geojson").read_text("utf-8"))["features"]
    by_id = {f["properties"]["case_id"]: f for f in features}
    assert set(by_id) == set(three_cases)
    filed, rejected, waiting = (by_id[c] for c in three_cases)
    assert filed["geometry"]["coordinates"] == [SPOT_A["lon"], SPOT_A["lat"]]
    assert (filed["properties"]["status"], rejected["properties"]["status"], waiting["properties"]["status"]) == (
        "dispatched", "rejected", "reported"
    )  # fmt: skip

    assert main([*d, "export", str(tmp_path / "cases.csv")]) == 0  # the suffix chooses CSV
    with (tmp_path / "cases.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["case_no"] for r in rows) == ["2026000001", "2026000002", "2026000003"]
    assert {r["case_id"]: r["department"] for r in rows}[three_cases[0]] == "municipal"
    assert all(r["reporter"] == "zhang.wei" and r["grid_code"] == GRID_A for r in rows)


def test_report_days_are_read_in_the_citys_own_time_zone(
    three_cases: list[str], data_dir: Path, tmp_path: Path
) -> None:
    """The cases were reported at 02:00 UTC on 2 March: still 1 March (21:00) in a city at UTC-05:00."""
    from sync_server.city import import_calendar
    from sync_server.store import open_store

    store = open_store(data_dir)
    try:
        calendar = json.loads(
            (Path(__file__).parents[2] / "sync_server/data/demo_city/calendar.json").read_text("utf-8")
        )
        import_calendar(store, {**calendar, "utc_offset_minutes": -300})
    finally:
        store.close()
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    for start, end, out in (("2026-03-01", "2026-03-02", first), ("2026-03-02", "2026-03-03", second)):
        args = ["report", "--start", start, "--end", end, "--lang", "en", "--output", str(out)]
        assert main(["--data-dir", str(data_dir), *args]) == 0
    assert {cells[1]: cells[2] for cells in _rows(first.read_text("utf-8"))}["zhang.wei"] == "3"
    assert "zhang.wei" not in second.read_text("utf-8")
    assert "2026-03-01T00:00:00-05:00" in first.read_text("utf-8")
