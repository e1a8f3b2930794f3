"""What a database failure means to a client: a stable refusal, never a 500.

A lost connection (the server restarted, a failover, `pg_terminate_backend`), a pool with no free
connection in time, a deadlock the database broke or a serialisation failure: each rolled back the
whole transaction, so the request changed nothing and may simply be sent again — `server.unavailable`
(503, retry later). The pool replaces broken connections by itself (it checks each one it hands out),
so the server recovers when the database is back, with no restart.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from shared.errors import GridsyncError

RETRY_LATER = (
    psycopg.OperationalError,  # connection lost or refused, the server shutting down, …
    PoolTimeout,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.LockNotAvailable,
)


def unavailable(exc: BaseException) -> GridsyncError:
    return GridsyncError("server.unavailable", f"the database is unavailable: {type(exc).__name__}")


def storage_refusal(exc: BaseException) -> GridsyncError:
    """A full disk is `server.storage_full` (507), anything else retry-later."""
    if isinstance(exc, pg_errors.DiskFull):
        return GridsyncError("server.storage_full", str(exc).strip())
    return unavailable(exc)
