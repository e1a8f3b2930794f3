"""The ingest's second core: worker processes that read, verify, decrypt, decompress and validate
segments while the main process applies the ones before them.

The pipeline is bounded: at most `window` segments are in flight (asked for and not yet applied),
so memory stays flat however big the spool. Results come back in the order asked, whatever the
number of workers. Only `shared/` runs in a worker (a spawned child imports just this module), and
a worker never touches the store: the main process gives it each device's public key, and checks
the device again when it applies (a device revoked meanwhile is refused there).

A worker answers each task with one of:
- `Unsealed(number, blob, header, ops)`: verified and valid, ops as tuples of `Op` fields;
- `Unsealed(number, b"", None, None, code, detail)`: refused, with the refusal's code;
- `Unsealed(number, blob, None, None)`: not opened (no key was given): the main process applies
  it in-process, which gives the refusal its usual order (`device.unknown`, `device.revoked`).
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from shared import crypto
from shared.envelope import Limits, SegmentHeader, keyring, open_segment_keyring
from shared.errors import GridsyncError
from shared.handover import KIND_SEGMENT, HandoverLimits, read_handover
from shared.ops import Op, decode_ops


class Task(NamedTuple):
    number: int
    path: str
    entry: int  # the segment's index among a hand-over file's segments; -1 for a .seg file
    device_key: bytes | None  # the device's Ed25519 public key; None: do not open it here


class Unsealed(NamedTuple):
    number: int
    blob: bytes
    header: SegmentHeader | None
    ops: list[tuple[Any, ...]] | None
    code: str = ""
    detail: str = ""

    def op_list(self) -> list[Op]:
        return [Op(*fields) for fields in self.ops or ()]


class _Reader:
    """A segment's bytes; the last hand-over file read is kept (its segments come in a row)."""

    def __init__(self, handover_limits: HandoverLimits) -> None:
        self.limits = handover_limits
        self.path = ""
        self.segments: list[bytes] = []

    def read(self, path: str, entry: int) -> bytes:
        if entry < 0:
            return Path(path).read_bytes()
        if path != self.path:
            self.segments = []
            entries = read_handover(Path(path).read_bytes(), self.limits)
            self.segments = [e.data for e in entries if e.kind == KIND_SEGMENT]
            self.path = path
        return self.segments[entry]


def unseal(task: Task, reader: _Reader, server_keys: Any, limits: Limits) -> Unsealed:
    try:
        blob = reader.read(task.path, task.entry)
    except (OSError, IndexError) as exc:
        return Unsealed(task.number, b"", None, None, "request.malformed", str(exc))
    except GridsyncError as exc:
        return Unsealed(task.number, b"", None, None, exc.code, exc.detail)
    if task.device_key is None:
        return Unsealed(task.number, blob, None, None)
    try:
        header, plain = open_segment_keyring(
            blob, device_public_raw=task.device_key, server_keys=server_keys, limits=limits
        )
        ops = decode_ops(plain, device_id=header.device_id, first_seq=header.first_seq, count=header.op_count)
    except GridsyncError as exc:
        return Unsealed(task.number, b"", None, None, exc.code, exc.detail)
    except Exception as exc:  # a bug met on one segment sets that file aside; the worker goes on
        return Unsealed(task.number, b"", None, None, "server.internal", f"{type(exc).__name__}: {exc}")
    fields = [
        (o.op_id, o.device_id, o.actor, o.seq, o.case_id, o.base_version, o.captured_at, o.kind, o.payload)
        for o in ops
    ]
    return Unsealed(task.number, blob, header, fields)


def _keyring(raws: tuple[bytes, ...]) -> Any:
    return keyring(crypto.encryption_key_from_raw(raw) for raw in raws)


def work(
    tasks: Any, results: Any, server_private_raws: tuple[bytes, ...], limits: Limits, handover: HandoverLimits
) -> None:
    """A worker process's loop, until it is given None. It dies with the ingest, even one killed
    with SIGKILL (`lifeline`); Ctrl-C is the parent's to handle (it stops the workers itself)."""
    from sync_server.lifeline import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server_private = _keyring(server_private_raws)
    reader = _Reader(handover)
    while (task := tasks.get()) is not None:
        results.put(unseal(task, reader, server_private, limits))


class Unsealer:
    """`for result in Unsealer(...).run(tasks):` results in task order; workers=0 works in-process."""

    def __init__(
        self, server_private_raws: tuple[bytes, ...], limits: Limits, handover: HandoverLimits, *, workers: int = 1,
        window: int = 64,
    ) -> None:  # fmt: skip
        self.args = (server_private_raws, limits, handover)
        self.workers = workers
        self.window = window

    def run(self, tasks: Iterable[Task]) -> Generator[Unsealed, None, None]:
        if self.workers <= 0:
            server_private = _keyring(self.args[0])
            reader = _Reader(self.args[2])
            for task in tasks:
                yield unseal(task, reader, server_private, self.args[1])
            return
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        inbox: Any = context.Queue()
        outbox: Any = context.Queue()
        processes = [
            context.Process(target=work, args=(inbox, outbox, *self.args), daemon=True, name=f"unsealer-{i}")
            for i in range(self.workers)
        ]
        for process in processes:
            process.start()
        try:
            yield from self._pipeline(iter(tasks), inbox, outbox, processes)
        finally:
            for _ in processes:
                inbox.put(None)
            for process in processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.terminate()
                    process.join()
            inbox.close()
            outbox.close()

    def _pipeline(
        self, tasks: Iterator[Task], inbox: Any, outbox: Any, processes: list[Any]
    ) -> Iterator[Unsealed]:
        order: deque[int] = deque()  # task numbers in the order asked: the order of the answers
        for task in islice(tasks, self.window):
            inbox.put(task)
            order.append(task.number)
        done: dict[int, Unsealed] = {}
        while order:
            wanted = order.popleft()
            while wanted not in done:
                result = self._get(outbox, processes)
                done[result.number] = result
            following = next(tasks, None)
            if following is not None:
                inbox.put(following)
                order.append(following.number)
            yield done.pop(wanted)

    @staticmethod
    def _get(outbox: Any, processes: list[Any]) -> Unsealed:
        while True:
            try:
                result: Unsealed = outbox.get(timeout=1.0)
                return result
            except queue.Empty:
                if not all(p.is_alive() for p in processes):
                    raise RuntimeError("an unsealer process died") from None
