"""Property tests over the whole pure pipeline: seal → place → decode → apply.

A small reference server in this file uses only shared/ (envelope, ledger, ops, rules), so the
properties hold for the protocol itself, whatever store the real server uses.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared import crypto
from shared.envelope import GENESIS_HASH, Limits, open_segment, seal_segment, segment_hash
from shared.ledger import DevicePosition, Placement, place_segment
from shared.model import Actor, Case, Role, Status, case_to_dict
from shared.ops import Op, decode_ops, encode_ops
from shared.rules import REJECTED, apply_op
from tests.shared.factories import DEV_1, GRID_A, HANDLER, SUPERVISOR, WORKER, OpMaker, ctx, new_id

SERVER_KEY = crypto.new_encryption_key()
DEVICE_KEY = crypto.new_signing_key()
LIMITS = Limits()


class ReferenceServer:
    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.position = DevicePosition(0, GENESIS_HASH)
        self.applied: dict[int, bytes] = {}
        self.backlog: dict[int, bytes] = {}
        self.cases: dict[str, Case] = {}

    def receive(self, blob: bytes) -> Placement:
        header, plain = open_segment(
            blob, device_public_raw=crypto.public_raw(DEVICE_KEY), server_private=SERVER_KEY, limits=LIMITS
        )
        placement = place_segment(
            self.position,
            first_seq=header.first_seq,
            last_seq=header.last_seq,
            prev_hash=header.prev_hash,
            segment_hash=segment_hash(blob),
            applied_hash=self.applied.get(header.first_seq),
        )
        if placement is Placement.GAP:
            self.backlog[header.first_seq] = blob
        elif placement is Placement.APPLY:
            for op in decode_ops(
                plain, device_id=header.device_id, first_seq=header.first_seq, count=header.op_count
            ):
                self.apply(op)
            self.applied[header.first_seq] = segment_hash(blob)
            self.position = DevicePosition(header.last_seq, segment_hash(blob))
            held = self.backlog.pop(header.last_seq + 1, None)
            if held is not None:
                self.receive(held)
        return placement

    def apply(self, op: Op) -> None:
        _, new = apply_op(self.cases.get(op.case_id), op, self.actor, ctx())
        if new is not None:
            self.cases[op.case_id] = new

    def state(self) -> dict[str, dict]:
        return {k: case_to_dict(v) for k, v in sorted(self.cases.items())}


def seal_all(ops: list[Op], cuts: list[int]) -> list[bytes]:
    """Seal `ops` into consecutive segments at the given cut points, chained like the phone does."""
    bounds = [*sorted({c for c in cuts if 0 < c < len(ops)}), len(ops)]
    segments, start, prev = [], 0, GENESIS_HASH
    for end in bounds:
        chunk = ops[start:end]
        blob = seal_segment(
            device_id=DEV_1,
            first_seq=chunk[0].seq,
            last_seq=chunk[-1].seq,
            prev_hash=prev,
            op_count=len(chunk),
            created_at=0,
            payload=encode_ops(chunk),
            device_key=DEVICE_KEY,
            server_public_raw=crypto.public_raw(SERVER_KEY),
        )
        segments.append(blob)
        prev, start = segment_hash(blob), end
    return segments


ACTIONS = st.sampled_from(
    [
        "edit",
        "note",
        "photo_before",
        "photo_after",
        "photo_verification",
        "file",
        "start",
        "report_back",
        "verify",
        "close",
        "rework",
        "void",
        "other_case",
    ]
)


def script_ops(steps: list[tuple[str, int]]) -> list[Op]:
    maker = OpMaker(DEV_1, SUPERVISOR.worker_id)
    cases = [new_id()]
    ops = [maker.create(cases[0], grid=GRID_A)]
    for step, pick in steps:
        case_id = cases[pick % len(cases)]
        if step == "other_case":
            cases.append(new_id())
            ops.append(maker.create(cases[-1]))
        elif step == "edit":
            ops.append(maker.edit(case_id, 1, description=f"描述 {pick}"))
        elif step == "note":
            ops.append(maker.note(case_id, f"备注 {pick}"))
        elif step.startswith("photo_"):
            ops.append(maker.photo(case_id, step.removeprefix("photo_")))
        else:
            extra = {"reason": "原因"} if step in ("rework", "void") else {}
            ops.append(maker.move(case_id, step, **extra))
    return ops


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.tuples(ACTIONS, st.integers(0, 5)), min_size=1, max_size=25),
    cuts=st.lists(st.integers(1, 30), max_size=8),
    resends=st.lists(st.integers(0, 40), max_size=10),
    shuffle_seed=st.randoms(use_true_random=False),
)
def test_any_split_into_segments_and_any_resends_in_any_order_give_the_same_final_state(
    steps, cuts, resends, shuffle_seed
):
    ops = script_ops(steps)
    reference = ReferenceServer(SUPERVISOR)
    for op in ops:
        reference.apply(op)

    segments = seal_all(ops, cuts)
    deliveries = segments + [segments[i % len(segments)] for i in resends]
    shuffle_seed.shuffle(deliveries)
    server = ReferenceServer(SUPERVISOR)
    for blob in deliveries + segments:  # the phone re-sends everything not yet acknowledged at the end
        placement = server.receive(blob)
        assert placement is not Placement.CONFLICT and placement is not Placement.FORK
    assert server.position.last_seq == len(ops)
    assert not server.backlog
    assert server.state() == reference.state()


def test_a_different_segment_with_the_same_sequence_numbers_is_a_conflict():
    maker = OpMaker(DEV_1, WORKER.worker_id)
    case_id = new_id()
    first = [maker.create(case_id)]
    server = ReferenceServer(WORKER)
    assert server.receive(seal_all(first, [])[0]) is Placement.APPLY
    other = OpMaker(DEV_1, WORKER.worker_id).create(new_id())
    assert server.receive(seal_all([other], [])[0]) is Placement.CONFLICT


def test_a_segment_that_does_not_chain_to_the_last_one_is_a_fork():
    maker = OpMaker(DEV_1, WORKER.worker_id)
    case_id = new_id()
    ops = [maker.create(case_id), maker.note(case_id)]
    first, _ = seal_all(ops, [1])
    server = ReferenceServer(WORKER)
    server.receive(first)
    forged = seal_segment(
        device_id=DEV_1,
        first_seq=2,
        last_seq=2,
        prev_hash=b"\x01" * 32,
        op_count=1,
        created_at=0,
        payload=encode_ops(ops[1:]),
        device_key=DEVICE_KEY,
        server_public_raw=crypto.public_raw(SERVER_KEY),
    )
    assert server.receive(forged) is Placement.FORK


NON_SUPERVISOR_ACTORS = st.sampled_from([WORKER, HANDLER, Actor("li.na", Role.WORKER, frozenset({GRID_A}))])


@settings(max_examples=60, deadline=None)
@given(
    moves=st.lists(
        st.tuples(
            NON_SUPERVISOR_ACTORS,
            st.sampled_from(
                [
                    "file",
                    "start",
                    "report_back",
                    "verify",
                    "close",
                    "rework",
                    "reopen",
                    "void",
                    "photo_after",
                    "photo_verification",
                    "photo_before",
                    "edit",
                ]
            ),
        ),
        max_size=30,
    )
)
def test_no_sequence_of_ops_by_non_supervisors_ever_reaches_closed(moves):
    creator = OpMaker(DEV_1, WORKER.worker_id)
    case_id = new_id()
    _, case = apply_op(None, creator.create(case_id, on_spot=True), WORKER, ctx())
    assert case is not None
    for actor, move in moves:
        maker = OpMaker(DEV_1, actor.worker_id)
        if move.startswith("photo_"):
            op = maker.photo(case_id, move.removeprefix("photo_"))
        elif move == "edit":
            op = maker.edit(case_id, case.version, description="改")
        else:
            op = maker.move(case_id, move, reason="原因")
        _, new = apply_op(case, op, actor, ctx())
        case = new or case
        assert case.status != Status.CLOSED


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(ACTIONS, st.integers(0, 5)), min_size=1, max_size=20),
    actor=st.sampled_from([WORKER, HANDLER, SUPERVISOR]),
)
def test_a_rejected_op_leaves_the_case_untouched(steps, actor):
    cases: dict[str, Case] = {}
    for op in script_ops(steps):
        current = cases.get(op.case_id)
        before = None if current is None else case_to_dict(current)
        outcome, new = apply_op(current, op, actor, ctx())
        if outcome.outcome == REJECTED:
            assert new is None
            assert (None if current is None else case_to_dict(current)) == before
        elif new is not None:
            cases[op.case_id] = new
