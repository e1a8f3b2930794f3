"""Requests per hour of an idle phone with the app open, and how soon it learns of a change, against
a real sync server process (not a test: a measurement for docs/performance.md).

    .venv/bin/python -m tests.app.measure_idle_phone --minutes 10

The phone is the app's own session (`AppSession`: the sync loop every 120 s plus the live-updates
long-poll of 25 s) on real HTTP to 127.0.0.1. The server's request log counts every request the
phone's device id signed. Midway, another phone reports a case; the idle phone's delay in showing it
is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from mobile.app.state.session import AppSession
from mobile.core.device import Device
from mobile.core.secrets import MemorySecretStore
from tests.app.browser_fixtures import PASSPHRASE, REPO, City, free_port

GRID = "441502001001001"
WHERE = (22.7875, 115.362375)


def requests_of(log: Path, device_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in log.read_text("utf-8", "replace").splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            entry = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("device") == device_id:
            key = f"{entry['method']} {entry['route']} {entry['status']}"
            counts[key] = counts.get(key, 0) + 1
    return counts


async def measure(city: City, folder: Path, minutes: float) -> dict[str, object]:
    from mobile.core.location import Fix

    idle_code, _ = city.enroll_code("idle.phone")
    app = AppSession(folder / "idle", device_locales=["en"])
    await app.device.enroll(city.url, idle_code)
    device_id = app.device.identity.device_id  # type: ignore[union-attr]
    other = Device.open(folder / "other", MemorySecretStore())
    code, _ = city.enroll_code("busy.phone")
    await other.enroll(city.url, code)
    app.background.start()
    started = time.monotonic()
    await asyncio.sleep(minutes * 30)
    case_id = other.report(category="0101", location=Fix(*WHERE, 8.0, int(time.time()), "gps"))
    await other.sync()
    pushed = time.monotonic()
    while app.device.case(case_id) is None:
        await asyncio.sleep(0.05)
    seen_after = time.monotonic() - pushed
    await asyncio.sleep(max(0.0, minutes * 60 - (time.monotonic() - started)))
    elapsed = time.monotonic() - started
    await app.background.stop()
    app.close()
    other.close()
    counts = requests_of(city.log, device_id)
    total = sum(counts.values())
    return {
        "minutes": round(elapsed / 60, 2),
        "requests": counts,
        "requests_per_hour": round(total * 3600 / elapsed, 1),
        "change_seen_after_s": round(seen_after, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.app.measure_idle_phone")
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gridsync-idle-"))
    port = free_port()
    env = {**os.environ, "GRIDSYNC_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO)}
    city = City(root / "server", port, root / "server.log", env=env)
    city.cli("init", "--demo", "--server-url", f"http://127.0.0.1:{port}")
    city.add_worker("idle.phone", "闲置", "worker", grids=GRID)
    city.add_worker("busy.phone", "忙碌", "worker", grids=GRID)
    city.start()
    try:
        result = asyncio.run(measure(city, root, args.minutes))
    finally:
        city.stop()
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
