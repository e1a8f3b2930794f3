"""Photos upload resumably: a cut at any point continues from what the server holds."""

from __future__ import annotations

import random
from pathlib import Path

import httpx

from mobile.core import photo_records
from tests.mobile.conftest import GRID_A, Server, fix_in, jpeg, run
from tests.mobile.transports import FaultyTransport, always


def _big_photo(seed: int) -> bytes:
    return jpeg(seed, (1600, 1200))  # noise: about 1 MB as prepared, so several 256 KiB chunks


def test_a_photo_upload_cut_at_random_points_resumes_without_resending_what_arrived(
    server: Server, tmp_path: Path
) -> None:
    rng = random.Random(7)
    faulty = FaultyTransport(server.transport)
    server.transport = faulty
    phone = server.device(tmp_path / "p", "zhang.wei")
    case_id = phone.report(category="0101", location=fix_in(GRID_A), photos=[(_big_photo(1), "before")])
    record = photo_records.to_upload(phone.store)[0]
    assert record.size > 3 * 256 * 1024

    def decide(request: httpx.Request) -> str:
        if request.method == "PUT":
            return rng.choice(["pass", "pass", "down", "lose_answer"])
        return "pass"

    faulty.decide = decide
    rounds = 0
    while not phone.pending().empty and rounds < 60:
        run(phone.sync())
        rounds += 1
    assert phone.pending().empty, rounds
    assert any("down" in r for r in faulty.requests) and any("lose_answer" in r for r in faulty.requests)
    # Every byte reached the server exactly once.
    assert faulty.photo_bytes_arrived == record.size
    assert server.services.store.photo(record.sha256).complete is True  # type: ignore[union-attr]
    faulty.decide = always("pass")
    assert run(phone.sync()).ok
    assert phone.case(case_id).case.photos[0].sha256 == record.sha256  # type: ignore[union-attr]


def test_a_failing_photo_never_blocks_the_text_or_the_other_photos(server: Server, tmp_path: Path) -> None:
    faulty = FaultyTransport(server.transport)
    server.transport = faulty
    phone = server.device(tmp_path / "p", "zhang.wei")
    phone.report(category="0101", location=fix_in(GRID_A), photos=[(jpeg(1), "before"), (jpeg(2), "before")])
    bad = photo_records.to_upload(phone.store)[0]
    # Damage the first photo on the phone: the server refuses it by its hash.
    path = phone.photo_store.root / str(bad.blob_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    report = run(phone.sync())
    assert not report.ok and report.problems[0].code == "photo.hash_mismatch"
    assert report.ops_sent == 3 and report.photos_uploaded == 1
    assert phone.pending().ops == 0 and phone.pending().photos == 1
