"""Issue 13's peer, measured in the same run: PouchDB 9 replicating to express-pouchdb on LevelDB.

The JavaScript lives in `bench/pouch/` (exact versions in its package-lock.json: pouchdb 9.0.0,
express-pouchdb 4.2.0, express 4.22.3); `available()` installs it once with `npm ci` into a cache
outside the repository (`$XDG_CACHE_HOME/gridsync-bench/pouch-<hash of the lock>`, else
`~/.cache/...`) and says why not when it cannot (no node or npm, node older than 18, the install or a
LevelDB smoke test failed): the bench then judges the goals against the issue's figures instead.

The server (`pouch/server.js`) is express + express-pouchdb in its `minimumForPouchDB` mode (the
routes replication uses; no authentication, no `_users` or `_replicator`) over PouchDB 9 on LevelDB,
one database `cases`, its own node process on 127.0.0.1. Its CPU is read from /proc
(`serving.cpu_seconds`); its bytes are its LevelDB directories' files, with the server stopped
(every database closed): before the pushes (the empty database and its design document) and after.

`client(devices, ops)` (`pouch/client.js`): the devices of `bench/client.py` (`fleet.fleet(devices,
seed=17)`) as PouchDB 9 databases on LevelDB on disk, all in one node process. Offline, each makes
`ops` ops as `bench/client.py::_make_ops` does: even ops report a case — a new document (category
"0101", a point of her first grid at the same fractions, the same description and address,
reporter, captured/reported times, grid code, `notes: []`); odd ops add a note {note_id, author,
text, captured_at} to the case just reported — `get` and `put` of that document, a second revision.
Then every device at once runs, timed, the nearest PouchDB round to the gridsync phone's (pull,
push, pull): replicate from the server filtered to her two grids, replicate to the server, replicate
from it again. The filter is CouchDB's classic design-document filter (`_design/grid`'s `mine`, the
grid codes in `query_params`), evaluated by the server on each change: express-pouchdb 4.2.0's
`_changes` passes a POST body's `doc_ids` on but not a Mango `selector`, so `selector` replication
does not filter there. What differs from the gridsync round, by PouchDB's design: a device pushes
documents, not ops — 100 documents at their second revision for 200 ops (the first revision's body
never leaves the device; its id travels in the revision history) — and the server changes nothing,
so the second pull finds her own documents already there and transfers none (gridsync's second pull
brings back her cases as the server filed them). Figures are per op (devices × ops), as gridsync's.
The filtered pulls are most of the round's cost: the server reads and filters its whole changes feed
for each device (50 × 200: ~1,300-1,700 µs of server CPU per op for the round, ~80-120 for the push
alone), so `bench.peer` also measures the push alone (`steps=("push",)`), the stricter peer.

`catchup(cases)` (`pouch/catchup.js`): the server's database loaded before it starts (`bulkDocs`
straight into its LevelDB, 1,000 a batch) with `cases` case documents made as `bench/catchup.py`
makes its cases (`fleet.Writer(..., seed=13)` creates of `fleet.fleet(100, seed=13)`, 1,000 in the
first member's grids), then a fresh device replicates the whole database (unfiltered: a supervisor
sees the city) with PouchDB's default options. Timed: that replication, from the device. The peer's
documents hold only what a report says; gridsync's cases also carry their timeline and versions.

By hand: `python -m bench.pouchpeer 50 200` (a round), `... 50 200 push` (the push alone).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

from bench import fleet, lattice, serving
from bench.measure import HERE, workdir

SOURCE = HERE / "pouch"
_INSTALL_TIMEOUT = 900
_RUN_TIMEOUT = 1800
_state: dict[str, str | None] = {}


def _cache() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gridsync-bench"
    lock = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()[:12]
    return root / f"pouch-{lock}"


def _env() -> dict[str, str]:
    return {**os.environ, "NODE_PATH": str(_cache() / "node_modules")}


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _install() -> str | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "no node or npm on PATH"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    if int(version.strip().lstrip("v").split(".")[0] or 0) < 18:
        return f"node {version.strip()} is older than 18"
    target = _cache()
    if (target / ".installed").exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(SOURCE / name, staging / name)
        try:
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=staging,
                                  capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"npm ci took over {_INSTALL_TIMEOUT} s"
        if done.returncode != 0:
            return f"npm ci failed: {_tail(done.stderr)}"
        smoke = ("const P = require('pouchdb'); require('express-pouchdb'); const db = new P(process.argv[1]);"
                 "db.put({_id: 'a'}).then(() => db.close()).catch((e) => { console.error(e); process.exit(1); });")  # fmt: skip
        check = subprocess.run([node, "-e", smoke, str(staging / "smoke-db")], cwd=staging, capture_output=True,
                               text=True, timeout=120, check=False,
                               env={**os.environ, "NODE_PATH": str(staging / "node_modules")})  # fmt: skip
        if check.returncode != 0:
            return f"PouchDB on LevelDB does not run: {_tail(check.stderr)}"
        shutil.rmtree(staging / "smoke-db", ignore_errors=True)
        (staging / ".installed").write_text(version, "utf-8")
        try:
            staging.rename(target)
        except OSError:  # another run installed it meanwhile
            if not (target / ".installed").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return None


def available() -> str | None:
    """None when the peer can run here; else why not. Installs it the first time (once a process)."""
    if "reason" not in _state:
        try:
            _state["reason"] = _install()
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            _state["reason"] = f"could not install the peer: {e}"
    return _state["reason"]


def _node(script: str, *args: str | Path) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("no node on PATH")
    return [node, str(SOURCE / script), *map(str, args)]


def _setup(data: Path, work: Path, seed: Path | None = None) -> dict[str, Any]:
    args: list[str | Path] = ["--dir", data, "--setup"]
    if seed is not None:
        args += ["--seed", seed]
    done = subprocess.run(_node("server.js", *args), cwd=work, env=_env(), capture_output=True, text=True,
                          timeout=_RUN_TIMEOUT, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the peer's server setup failed: {_tail(done.stderr)}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _server(data: Path, work: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """express-pouchdb over `data` on a free 127.0.0.1 port; yields the database's URL and the
    process, and stops it (SIGTERM: it closes its databases) on every way out."""
    port = serving.free_port()
    log = work / f"server-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(_node("server.js", "--dir", data, "--port", str(port)), cwd=work, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        serving.wait_up(url, proc, "/cases", log=log)
        yield url + "/cases", proc
    finally:
        _stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"the peer's server stopped with {proc.returncode}")


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _line(stream: IO[str], proc: subprocess.Popen[str], err: Path) -> dict[str, Any]:
    line = stream.readline()
    if not line:
        proc.wait()
        raise RuntimeError(f"the peer's client exited: {_tail(err.read_text('utf-8', 'replace'))}")
    result: dict[str, Any] = json.loads(line)
    return result


def _plan(devices: int, ops: int, url: str, phones: Path, steps: tuple[str, ...]) -> dict[str, Any]:
    _, members = fleet.fleet(devices, seed=17)  # bench/client.py's devices
    reports = (ops + 1) // 2
    return {
        "url": url,
        "dir": str(phones),
        "ops": ops,
        "steps": list(steps),
        "now": int(time.time()),
        "devices": [
            {
                "worker_id": m.worker_id,
                "grids": [c.code for c in m.cells],
                "grid_code": m.cells[0].code,
                "points": [m.cells[0].point((i % 97) / 97, (i % 89) / 89) for i in range(0, 2 * reports, 2)],
            }
            for m in members
        ],
    }


ROUND = ("pull", "push", "pull")


def client(devices: int = 50, ops: int = 200, steps: tuple[str, ...] = ROUND) -> dict[str, Any]:
    """The peer's push figures for `devices` × `ops`, one fresh run (see the module docstring).
    `steps`: the round, of "pull" (filtered to her grids), "push" and "pull_all" (unfiltered)."""
    with workdir("pouch-client") as work:
        data, phones = work / "server", work / "phones"
        phones.mkdir()
        _setup(data, work)
        before = _dir_bytes(data)
        with _server(data, work) as (url, server):
            plan = work / "plan.json"
            plan.write_text(json.dumps(_plan(devices, ops, url, phones, steps)), "utf-8")
            err = work / "client.log"
            with err.open("wb") as err_file:
                proc = subprocess.Popen(_node("client.js", plan), cwd=work, env=_env(), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=err_file, text=True)  # fmt: skip
            timer = threading.Timer(_RUN_TIMEOUT, proc.kill)
            timer.start()
            try:
                assert proc.stdin is not None and proc.stdout is not None
                _line(proc.stdout, proc, err)  # {"ready": true}: the offline work is done
                server_cpu = serving.cpu_seconds(server.pid)
                proc.stdin.write("go\n")
                proc.stdin.flush()
                result = _line(proc.stdout, proc, err)
                server_cpu = serving.cpu_seconds(server.pid) - server_cpu
                proc.stdin.close()
                proc.wait(timeout=60)
            finally:
                timer.cancel()
                _stop(proc)
            info = httpx.get(url, timeout=30).json()
        after = _dir_bytes(data)
        _setup(data, work)  # LevelDB, opened again, writes its log out as a (compressed) table
        reopened = _dir_bytes(data)
    total = devices * ops
    reports = devices * ((ops + 1) // 2)
    if result["docs_pushed"] != reports or info["doc_count"] != reports + 1:  # + the design document
        raise RuntimeError(f"the peer pushed {result['docs_pushed']} documents, the server holds "
                           f"{info['doc_count'] - 1}, of {reports}")  # fmt: skip
    return {
        "devices": devices,
        "ops_per_device": ops,
        "ops": total,
        "round": "-".join(steps),
        "documents_pushed": result["docs_pushed"],
        "documents_pulled": result["docs_pulled"],
        "client_cpu_us_per_op": result["cpu_s"] / total * 1e6,
        "wall_s": result["wall_s"],
        "ops_per_s": total / result["wall_s"],
        "server_cpu_us_per_op": server_cpu / total * 1e6,
        "server_bytes_before": before,
        "server_bytes_after": after,
        "server_bytes_per_op": (after - before) / total,
        "server_bytes_per_op_reopened": (reopened - before) / total,
        "phone_bytes_per_op": (result["phone_bytes_after"] - result["phone_bytes_before"]) / total,
    }


MEDIAN_KEYS = ("client_cpu_us_per_op", "wall_s", "ops_per_s", "server_cpu_us_per_op", "server_bytes_per_op",
               "server_bytes_per_op_reopened", "phone_bytes_per_op")  # fmt: skip


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result of several runs of `client`: each figure's median, and every run under "runs"."""
    return {**runs[0], **{k: statistics.median(r[k] for r in runs) for k in MEDIAN_KEYS}, "runs": runs}


def _case_docs(cases: int, hers: int = 1000) -> Iterator[dict[str, Any]]:
    """bench/catchup.py's cases as the peer's documents: the same creates, the same split."""
    _, members = fleet.fleet(100, seed=13)
    rest = cases - hers
    per = rest // (len(members) - 1)
    counts = [hers] + [
        per + (rest - per * (len(members) - 1) if k == 0 else 0) for k in range(len(members) - 1)
    ]
    for m, count in zip(members, counts, strict=True):
        writer = fleet.Writer(m, b"", seed=13)
        for op in writer.ops(count, creates_only=True):
            p = op["payload"]
            loc = p["location"]
            grid = next(c.code for c in m.cells if c.west <= loc["lon"] < c.west + lattice.CELL_LON
                        and c.south <= loc["lat"] < c.south + lattice.CELL_LAT)  # fmt: skip
            yield {"_id": op["case_id"], "category": p["category"], "reporter": op["actor"],
                   "status": "reported", "description": p["description"], "location": loc, "grid_code": grid,
                   "address": p["address"], "captured_at": op["captured_at"], "reported_at": fleet.NOW,
                   "on_spot": False, "notes": []}  # fmt: skip


def catchup(cases: int) -> dict[str, Any]:
    """A fresh PouchDB device replicates a server holding `cases` case documents."""
    with workdir("pouch-catchup") as work:
        seed = work / "cases.ndjson"
        with seed.open("w", encoding="utf-8") as out:
            for doc in _case_docs(cases):
                out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        start = time.perf_counter()
        loaded = _setup(work / "server", work, seed)
        load_s = time.perf_counter() - start
        if loaded["loaded"] != cases:
            raise RuntimeError(f"the peer's server loaded {loaded['loaded']} of {cases} cases")
        with _server(work / "server", work) as (url, _):
            done = subprocess.run(_node("catchup.js", url, work / "device"), cwd=work, env=_env(),
                                  capture_output=True, text=True, timeout=_RUN_TIMEOUT, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"the peer's catch-up failed: {_tail(done.stderr)}")
        result = json.loads(done.stdout.splitlines()[-1])
    held = result["doc_count"] - 1  # the design document came too
    if held != cases:
        raise RuntimeError(f"the peer's device holds {held} of {cases} cases")
    return {
        "cases": held,
        "seconds": result["seconds"],
        "cases_per_s": held / result["seconds"],
        "client_cpu_s": result["cpu_s"],
        "load_seconds": load_s,
    }


if __name__ == "__main__":
    import sys

    reason = available()
    if reason:
        sys.exit(f"the peer cannot run: {reason}")
    steps = tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else ROUND
    print(json.dumps(client(int(sys.argv[1]), int(sys.argv[2]), steps), indent=2))
