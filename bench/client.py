"""Client figures (issue 13): phone CPU per pushed op, push wall rate, and bytes per op — on the
server's disk, on the phone's, and on the wire in each direction.

gridsync: `devices` real phones (`mobile.core.device.Device`, each with its own long-lived HTTP
client) in this process, enrolled over HTTP in one `gridsync-server serve` process on 127.0.0.1;
each phone saves `ops` ops (a report, then a note on it, …) offline; then every phone runs one sync
round at once. Timed: that round (CPU of this process = the phones' CPU; the server's CPU read from
/proc). The round is what a phone does: seal, push its segments, then pull what changed (its own
cases come back with what the server made of them). With `push_alone`, the phones run the same
round without its pull and photo prefetch (`PushAlone`): the work the peer's push alone does.

The server's bytes are measured three ways, each after the run less before it: the database file
with its WAL as left, the file after a truncating checkpoint, and a compacted copy (`VACUUM INTO`,
which leaves the live file as it is) — the last the counterpart of LevelDB once it has compacted.

Baseline, same run: the same op documents (read from the phones' outboxes) POSTed as plain JSON,
500 a request (the phone's segment size), by as many concurrent clients, each with its own
`httpx.AsyncClient`, to `bench.baseline_server` (FastAPI appending them to SQLite) under uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import httpx

from bench import fleet, serving
from bench.measure import workdir
from mobile.core import device as device_module
from mobile.core.device import Device
from mobile.core.location import Fix
from mobile.core.secrets import MemorySecretStore
from mobile.core.segments import MAX_OPS
from mobile.core.sync_client import SyncClient
from sync_server.enrollment import create_code
from sync_server.store import open_store


class CountingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, counting the bytes each way: request line, headers and body up; status line,
    headers and body down, as they crossed the wire (a gzip-compressed body counted compressed;
    the client above undoes it), HTTP/1.1 framing give or take the chunk markers."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.up = 0
        self.down = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.up += len(request.method) + len(request.url.raw_path) + 11 + len(request.content)
        self.up += sum(len(k) + len(v) + 4 for k, v in request.headers.raw) + 2
        response = await self.inner.handle_async_request(request)
        body = b"".join([chunk async for chunk in response.aiter_raw()])  # as sent: gzip stays gzip
        await response.aclose()
        self.down += 17 + sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2 + len(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body,
                              extensions=response.extensions)  # fmt: skip

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _enroll(url: str, work: Path, codes: dict[str, str]) -> list[tuple[Device, CountingTransport]]:
    phones = []
    for worker_id, code in codes.items():
        transport = CountingTransport()
        device = Device.open(work / "phones" / worker_id, MemorySecretStore(), transport=transport)
        await device.enroll(url, code, device_name=worker_id)
        phones.append((device, transport))
    return phones


def _make_ops(device: Device, member: fleet.Member, ops: int) -> None:
    cell = member.cells[0]
    now = int(time.time())
    case_id = ""
    for i in range(ops):
        if i % 2 == 0:
            lat, lon = cell.point((i % 97) / 97, (i % 89) / 89)
            case_id = device.report(
                category="0101", location=Fix(lat, lon, 6.0, now), description="井盖松动，行人经过有响声",
                address="凤山街道 香洲路 12 号",
            )  # fmt: skip
        else:
            device.add_note(case_id, "已联系市政所，明早处理。")


class PushAlone(SyncClient):
    """The phone's own round, line for line, without its pull and its photo prefetch: seal, upload
    photos, push the segments and write their receipts. Not a phone's behaviour (a phone always
    pulls after it pushes): the bench's counterpart of the peer's push alone."""

    async def _pull(self) -> None:
        return None

    async def _prefetch(self) -> None:
        return None


@contextmanager
def _rounds(push_alone: bool) -> Iterator[None]:
    """Phones' rounds as `Device.sync` runs them; without the pull when `push_alone`."""
    if not push_alone:
        yield
        return
    with mock.patch.object(device_module, "SyncClient", PushAlone):
        yield


async def _sync_all(phones: list[Device]) -> None:
    reports = await asyncio.gather(*(p.sync() for p in phones))
    for report, phone in zip(reports, phones, strict=True):
        if not report.ok or not phone.pending().empty:
            raise RuntimeError(f"a phone's round failed: {report.problems}")


async def _baseline_push(url: str, per_device: list[list[str]]) -> None:
    async def one(ops: list[str]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            for k in range(0, len(ops), MAX_OPS):
                body = ("[" + ",".join(ops[k : k + MAX_OPS]) + "]").encode()
                response = await client.post(
                    "/ops", content=body, headers={"content-type": "application/json"}
                )
                response.raise_for_status()

    await asyncio.gather(*(one(ops) for ops in per_device))


def _measure(run: Any) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(run)
    return time.process_time() - cpu, time.perf_counter() - wall


def client(devices: int = 50, ops: int = 200, push_alone: bool = False) -> dict[str, Any]:
    with workdir("client") as work:
        city, members = fleet.fleet(devices, seed=17)
        data = work / "server"
        fleet.build_server(data, city, [], **serving.NO_ADDRESS_LIMITS)
        store = open_store(data)
        with store.transaction() as tx:
            for m in members:
                tx.save_worker(m.worker_record())
        codes = {m.worker_id: create_code(store, m.worker_id, int(time.time()), 3600) for m in members}
        store.close()
        db = data / "gridsync.db"
        with serving.serve(data) as (url, proc):
            phones = asyncio.run(_enroll(url, work, codes))
            devices_ = [p for p, _ in phones]
            before_server = serving.checkpointed_bytes(db)  # an idle server: the checkpoint completes
            before_compacted = serving.compacted_bytes(db)
            before_phone = [serving.checkpointed_bytes(p.store.folder / "gridsync.db") for p in devices_]
            for device, m in zip(devices_, members, strict=True):
                _make_ops(device, m, ops)
            op_docs = [[r[0] for r in d.store.all("SELECT op FROM outbox ORDER BY seq")] for d in devices_]
            for _, t in phones:
                t.up = t.down = 0
            server_cpu = serving.cpu_seconds(proc.pid)
            with _rounds(push_alone):
                cpu, wall = _measure(_sync_all(devices_))
            server_cpu = serving.cpu_seconds(proc.pid) - server_cpu
            up = sum(t.up for _, t in phones)
            down = sum(t.down for _, t in phones)
            after_server = serving.db_bytes(db)
            after_phone = [serving.db_bytes(p.store.folder / "gridsync.db") for p in devices_]
            for device in devices_:
                device.close()
        total = devices * ops
        server_checkpointed = serving.checkpointed_bytes(db)
        server_compacted = serving.compacted_bytes(db)
        server_tables = serving.bytes_by_table(db)
        phone_checkpointed = sum(
            serving.checkpointed_bytes(d.store.folder / "gridsync.db") for d in devices_
        )  # the phones' files after their own checkpoint
        base_db = work / "baseline.db"
        with serving.baseline(base_db) as (base_url, base_proc):
            base_server_cpu = serving.cpu_seconds(base_proc.pid)
            base_cpu, base_wall = _measure(_baseline_push(base_url, op_docs))
            base_server_cpu = serving.cpu_seconds(base_proc.pid) - base_server_cpu
        stored = sqlite3.connect(base_db).execute("SELECT COUNT(*) FROM ops").fetchone()[0]
        if stored != total:
            raise RuntimeError(f"the baseline stored {stored} of {total} ops")
        base_bytes = serving.checkpointed_bytes(base_db)
        base_compacted = serving.compacted_bytes(base_db)
        op_json = sum(len(o.encode()) for ops_ in op_docs for o in ops_) / total
    return {
        "devices": devices,
        "ops_per_device": ops,
        "ops": total,
        "round": "push" if push_alone else "round",
        "client_cpu_us_per_op": cpu / total * 1e6,
        "wall_s": wall,
        "ops_per_s": total / wall,
        "server_cpu_us_per_op": server_cpu / total * 1e6,
        "baseline_client_cpu_us_per_op": base_cpu / total * 1e6,
        "baseline_wall_s": base_wall,
        "baseline_ops_per_s": total / base_wall,
        "baseline_server_cpu_us_per_op": base_server_cpu / total * 1e6,
        "cpu_ratio": (cpu / total) / (base_cpu / total),
        "rate_ratio": (total / wall) / (total / base_wall),
        "op_json_bytes": op_json,
        "server_bytes_per_op_with_wal": (after_server["db"] + after_server["wal"] - before_server) / total,
        "server_bytes_per_op_checkpointed": (server_checkpointed - before_server) / total,
        "server_bytes_per_op_compacted": (server_compacted - before_compacted) / total,
        "baseline_bytes_per_op": base_bytes / total,
        "baseline_bytes_per_op_compacted": base_compacted / total,
        "phone_bytes_per_op_with_wal": sum(
            a["db"] + a["wal"] - b for a, b in zip(after_phone, before_phone, strict=True)
        )
        / total,
        "phone_bytes_per_op_checkpointed": (phone_checkpointed - sum(before_phone)) / total,
        "wire_up_bytes_per_op": up / total,
        "wire_down_bytes_per_op": down / total,
        "baseline_wire_up_bytes_per_op": op_json,  # bodies only: the JSON of the ops
        "server_bytes_by_table": server_tables,
    }


if __name__ == "__main__":
    import sys

    devices, ops = (int(a) for a in sys.argv[1:3])
    print(json.dumps(client(devices, ops, push_alone="push" in sys.argv[3:]), indent=2))
