"""Upkeep that no request triggers: held segments whose wait ran out are force-applied (rule 1),
and open cases past their deadline in working time get the overdue flag.

`serve` runs `sweep` every `sweep_interval_s` in the app's lifespan; `gridsync-server admin sweep`
runs it once, for cron. Two server processes sweeping at once do the work once, by the store
contract (`store.base`), not by any lock here: a held segment is settled under its device's lock
(`Transaction.lock_device`: one applies it, the other finds it applied), and due cases are read
under a lock held to commit (`Transaction.cases_due_before`: each is flagged once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from starlette.concurrency import run_in_threadpool

from shared.errors import GridsyncError
from sync_server.services import Services

log = logging.getLogger("gridsync.sweeps")


@dataclass(frozen=True, slots=True)
class SweepResult:
    forced: int  # held segments applied
    overdue: int  # cases newly flagged overdue


def sweep(services: Services) -> SweepResult:
    now = services.clock()
    forced = services.reconciler.sweep_backlog(now)
    overdue = services.reconciler.sweep_overdue(now)
    return SweepResult(forced, overdue)


async def sweep_forever(services: Services, interval_s: float) -> None:
    """Sweep every `interval_s` until cancelled. A failed sweep (the database busy, say) is logged
    and the next one runs on time."""
    while True:
        await anyio.sleep(interval_s)
        try:
            result = await run_in_threadpool(sweep, services)
        except GridsyncError as exc:
            log.warning("sweep skipped: %s", exc)
            services.metrics.sweep_runs.inc(outcome="skipped")
            continue
        except Exception:
            log.exception("sweep failed")
            services.metrics.sweep_runs.inc(outcome="failed")
            continue
        services.metrics.sweep_runs.inc(outcome="done")
        if result.forced or result.overdue:
            log.info("sweep: %d held segments applied, %d cases overdue", result.forced, result.overdue)
