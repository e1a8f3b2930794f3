"""How `serve` runs uvicorn: the operating limits of docs/server.md turned into uvicorn's knobs, and
a bounded HTTP protocol for what uvicorn has no knob for.

uvicorn bounds idle kept-alive connections (`timeout_keep_alive`), concurrent connections and tasks
(`limit_concurrency`: beyond it a request is answered 503 at once, costing nothing), the listen
backlog, and with h11 the size of an incomplete request head (`h11_max_incomplete_event_size`). It
does not bound how long a client may take to send its headers: a client dripping one byte every few
seconds holds its connection for ever. `BoundedHttpTools` / `BoundedH11` (whichever parser uvicorn
would pick) add that: from a request's first byte (or from the connection's opening), its headers
must be complete within `header_timeout_s` and `max_header_bytes`, or the connection is answered
408 / 431 and closed. Bodies are bounded in the app (`api.deadline.BodyDeadline`).

The protocol is a class uvicorn instantiates per connection, in each worker process; its limits are
class attributes set by `configure(config)`, which the app factory calls in the process that serves
(`api.app.build_app`), so `serve --workers N` gets them in every worker.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

from sync_server.config import ServerConfig

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    HAVE_HTTPTOOLS = True
except ImportError:  # pragma: no cover - uvicorn without its [standard] extras
    HAVE_HTTPTOOLS = False

_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
_TOO_BIG = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class _HeaderBounds:
    """Mixed into a uvicorn HTTP protocol: a deadline and a size limit on each request's head.

    A new request's head is awaited from the connection's opening and from the first byte after a
    response (a kept-alive connection waiting without a byte is uvicorn's `timeout_keep_alive`).
    The head is complete when uvicorn has built the request's cycle."""

    header_timeout_s: ClassVar[float] = 10.0
    max_header_bytes: ClassVar[int] = 16 * 1024

    _head_timer: asyncio.TimerHandle | None
    _head_bytes: int
    _awaiting_head: bool
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timer = None
        self._await_head()

    def _await_head(self) -> None:
        self._awaiting_head = True
        self._head_bytes = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._refuse, _TIMEOUT)

    def _head_done(self) -> None:
        self._awaiting_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, answer: bytes) -> None:
        self._head_done()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        if not self._awaiting_head and (before is None or before.response_complete):
            self._await_head()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not before:
            self._head_done()
        elif self._awaiting_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(_TOO_BIG)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)  # type: ignore[misc]


class BoundedH11(_HeaderBounds, H11Protocol):
    pass


if HAVE_HTTPTOOLS:

    class BoundedHttpTools(_HeaderBounds, HttpToolsProtocol):
        """httptools parses a whole head arriving in one read before `data_received` can count it:
        its size is checked again when it is complete, before the request starts."""

        _oversized = False

        def on_headers_complete(self) -> None:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.max_header_bytes:
                self._oversized = True
                raise ValueError("request head too large")  # httptools stops parsing; uvicorn answers
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if self._oversized:
                self._refuse(_TOO_BIG)
            else:
                super().send_400_response(msg)

    PROTOCOL: type[asyncio.Protocol] = BoundedHttpTools
else:  # pragma: no cover
    PROTOCOL = BoundedH11


def configure(config: ServerConfig) -> None:
    """Set the head limits of this process's connections (see the module docstring)."""
    _HeaderBounds.header_timeout_s = float(config.header_timeout_s)
    _HeaderBounds.max_header_bytes = config.max_header_bytes


def uvicorn_options(config: ServerConfig) -> dict[str, Any]:
    """The keyword arguments `serve` gives `uvicorn.run` besides the app, host, port and workers."""
    configure(config)
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": config.keep_alive_timeout_s,
        "limit_concurrency": config.max_connections,
        "backlog": config.listen_backlog,
        "h11_max_incomplete_event_size": config.max_header_bytes,
        "forwarded_allow_ips": config.forwarded_allow_ips,
        "proxy_headers": True,
        # `RequestLog` writes each request's line (route, status, ms, device); uvicorn's own access
        # line would log every request a second time.
        "access_log": False,
    }


#: A serving process's young collections come once this many more container objects were made than
#: freed (CPython's default: 700).
YOUNG_COLLECTION_EVERY = 10_000


def settle_heap() -> None:
    """For a serving process, once its app is built: what it holds for its whole life (modules, the
    app, keys, the city's grids) is collected once and then frozen out of the cyclic garbage
    collector's walks. A full collection then walks what requests made since, not the ~80,000
    objects of a started server (each full collection took 40-55 ms in the client bench, two in a
    2-second round of 50 phones; 6-20 ms once frozen). Frozen objects are never freed, which these
    never would be anyway; a request's garbage is collected as before.

    Young collections come every `YOUNG_COLLECTION_EVERY` allocations, not 700: a request's
    objects (a segment's cases, ops and outcomes) mostly die with it, and a young collection walks
    only the live ones, so fewer collections walk far fewer objects (in that round, ~300 young
    collections took 0.08-0.15 s of CPU; ~10 take 0.003-0.015 s). Cyclic garbage waits a little
    longer: at most that many allocations. Not for tests: each would freeze its own app."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
