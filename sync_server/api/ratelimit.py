"""Rate limits: token buckets per (rule, key), behind a small seam.

`RateLimiter` is the seam: the API asks it for a token and is told either "go" (0.0) or how many
seconds until one is free. `MemoryBuckets` keeps the buckets in this process, which is exact for the
SQLite store (one process); with `serve --workers N` each worker has its own buckets, so a client
can get up to N times a limit. A PostgreSQL store shared by several processes would implement the
same protocol over a table (one `UPDATE … RETURNING` per take) without any change to the routes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared.errors import GridsyncError
from sync_server.config import ServerConfig


@dataclass(frozen=True)
class Rule:
    """`burst` tokens at most, refilled at `per_minute` a minute. `per_minute == 0`: no limit."""

    name: str
    per_minute: int
    burst: int

    @property
    def off(self) -> bool:
        return self.per_minute <= 0 or self.burst <= 0


class RateLimiter(Protocol):
    def take(self, rule: Rule, key: str) -> float:
        """Take one token of `rule` for `key`. Returns 0.0 if taken, else the seconds until one will
        be there (and takes nothing). Never blocks."""


class MemoryBuckets:
    """Token buckets in this process. At most `max_keys` keys per rule are remembered (the least
    recently used is forgotten first), so a flood of new addresses cannot grow memory; a forgotten
    key starts again with a full bucket."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, OrderedDict[str, tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def take(self, rule: Rule, key: str) -> float:
        if rule.off:
            return 0.0
        now = self.clock()
        rate = rule.per_minute / 60.0
        with self._lock:
            buckets = self._buckets.setdefault(rule.name, OrderedDict())
            tokens, then = buckets.pop(key, (float(rule.burst), now))
            tokens = min(float(rule.burst), tokens + (now - then) * rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / rate
            buckets[key] = (tokens, now)
            while len(buckets) > self.max_keys:
                buckets.popitem(last=False)
        return wait


@dataclass(frozen=True)
class Rules:
    """The limits of one server, and the client addresses never limited per address (loopback by
    default: local tools, and a proxy on the same host that does not say who its clients are — all
    its clients would otherwise share one bucket)."""

    enroll_per_address: Rule
    push_per_device: Rule
    push_per_address: Rule
    exempt_addresses: frozenset[str] = frozenset()

    @classmethod
    def of(cls, config: ServerConfig) -> Rules:
        return cls(
            Rule("enroll/address", config.enroll_per_address_per_min, config.enroll_per_address_burst),
            Rule("push/device", config.push_per_device_per_min, config.push_per_device_burst),
            Rule("push/address", config.push_per_address_per_min, config.push_per_address_burst),
            frozenset(a.strip() for a in config.rate_limit_exempt_ips.split(",") if a.strip()),
        )


def check(limiter: RateLimiter, rule: Rule, key: str) -> None:
    """Raise `request.rate_limited` (429, with the seconds to wait) if `key` has no token left."""
    wait = limiter.take(rule, key)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise GridsyncError(
            "request.rate_limited", f"{rule.name}: retry in {seconds} s", context={"retry_after": seconds}
        )
