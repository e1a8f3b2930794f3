"""Many slow clients at once, driven by one thread with `selectors`: each connection sends a request
head one byte at a time (or nothing at all), and we note when the server hangs up on it."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Drip:
    """`count` connections to `port`, each sending one more byte of an endless header every
    `interval` seconds (`interval=0`: silent). `reopen`: a connection the server closed is opened
    again, so the pressure stays for as long as the drip runs."""

    port: int
    count: int
    interval: float = 1.0
    reopen: bool = False
    opened: int = 0
    closed_after: list[float] = field(default_factory=list)  # seconds each lived, once closed
    failed_connects: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Drip:
        self._thread = threading.Thread(target=self._run, name="drip", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _open(self, sel: selectors.BaseSelector) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            self.failed_connects += 1
            return
        sock.setblocking(False)
        self.opened += 1
        if self.interval:
            sock.send(b"POST /v1/segments HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sel.register(sock, selectors.EVENT_READ, time.monotonic())

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for _ in range(self.count):
            self._open(sel)
        next_drip = time.monotonic() + self.interval
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if not data:
                    self.closed_after.append(time.monotonic() - key.data)
                    sel.unregister(sock)
                    sock.close()
                    if self.reopen:
                        self._open(sel)
            if self.interval and time.monotonic() >= next_drip:
                next_drip += self.interval
                for key in list(sel.get_map().values()):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    with contextlib.suppress(OSError):  # closed under us: seen on the next select
                        sock.send(b"x")
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()

    @property
    def held(self) -> int:
        return self.opened - len(self.closed_after)
