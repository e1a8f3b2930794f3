"""The public Open311 feed protects people by default (issue 15 items 6-8).

Reports come from real phones (signed segments through the app); the feed is read through the same
app, in JSON and XML, as anyone on the internet would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync_server.cli import main
from sync_server.open311_privacy import MASK, mask_personal
from tests.server.asgi import SyncClient
from tests.server.device import TestDevice

PRIVATE = "张三 13812345678 住二马路12号 身份证 44150219800101123X 邮箱 zhang.san@example.com"
FEED = "/open311/v2/requests.json"


def report(device: TestDevice, description: str = PRIVATE) -> str:
    op = device.create(description=description)
    op["payload"]["address"] = "二马路12号 电话 0660-3312345"
    receipt = device.push_ops([op])
    assert receipt["outcomes"][0]["outcome"] == "applied"
    return str(op["case_id"])


def public(client: SyncClient, case_id: str, services: Any, **params: str) -> dict[str, Any]:
    case_no = services.store.case(case_id).case_no
    response = client.get(f"/open311/v2/requests/{case_no}.json", params=params)
    assert response.status_code == 200
    [request] = response.json()
    return dict(request)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678", f"电话{MASK}"),
        ("call +86 138 1234 5678 now", f"call {MASK} now"),
        ("身份证44150219800101123X号", f"身份证{MASK}号"),
        ("座机0660-3312345", f"座机{MASK}"),
        ("mail zhang.san@example.com.", f"mail {MASK}."),
        ("车牌粤A12345停了三天", f"车牌{MASK}停了三天"),
        ("卡号 6222 0202 0000 1234", f"卡号 {MASK}"),
        ("井盖破损，2处，宽30cm", "井盖破损，2处，宽30cm"),  # short numbers are the problem itself
    ],
)
def test_personal_numbers_are_masked_and_short_numbers_kept(text: str, expected: str) -> None:
    assert mask_personal(text) == expected


def test_a_reported_case_publishes_neither_description_nor_address(
    client: SyncClient, worker: TestDevice, services: Any
) -> None:
    request = public(client, report(worker), services)
    assert (request["description"], request["address"]) == (None, None)


def test_a_filed_case_publishes_its_description_and_address_masked(
    client: SyncClient, worker: TestDevice, supervisor: TestDevice, services: Any
) -> None:
    case_id = report(worker)
    supervisor.push_ops([supervisor.move(case_id, "file", department="municipal")])
    request = public(client, case_id, services)
    assert request["status"] == "open"
    assert request["description"] == f"张三 {MASK} 住二马路12号 身份证 {MASK} 邮箱 {MASK}"
    assert request["address"] == f"二马路12号 电话 {MASK}"


def test_a_rejected_case_never_publishes_its_text(
    client: SyncClient, worker: TestDevice, supervisor: TestDevice, services: Any
) -> None:
    case_id = report(worker)
    supervisor.push_ops([supervisor.move(case_id, "reject", reason="不是问题")])
    request = public(client, case_id, services)
    assert (request["status"], request["description"], request["address"]) == ("closed", None, None)


def test_coordinates_are_rounded_to_about_ten_metres(
    client: SyncClient, worker: TestDevice, services: Any
) -> None:
    op = worker.create()
    op["payload"]["location"].update(lat=22.787512345678901, lon=115.362376543210987)
    worker.push_ops([op])
    request = public(client, op["case_id"], services)
    assert (request["lat"], request["long"]) == (22.7875, 115.3624)
    xml = client.get(f"/open311/v2/requests/{services.store.case(op['case_id']).case_no}.xml").text
    assert "<lat>22.7875</lat>" in xml and "<long>115.3624</long>" in xml


@pytest.mark.parametrize(
    "config_overrides", [{"open311_coordinate_decimals": 2, "open311_descriptions": False}]
)
def test_a_city_can_publish_coarser_places_and_no_text_at_all(
    client: SyncClient, worker: TestDevice, supervisor: TestDevice, services: Any
) -> None:
    case_id = report(worker)
    supervisor.push_ops([supervisor.move(case_id, "file", department="municipal")])
    request = public(client, case_id, services)
    assert (request["lat"], request["long"]) == (22.79, 115.36)
    assert (request["description"], request["address"]) == (None, None)


def test_a_supervisor_public_text_replaces_the_description_and_every_edit_is_kept(
    client: SyncClient, worker: TestDevice, services: Any, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id = report(worker)
    case_no = services.store.case(case_id).case_no
    admin = ["--data-dir", str(data_dir), "admin", "public-text", case_no]
    assert main([*admin, "二马路井盖破损，已派人处理", "--by", "chen.sup"]) == 0
    assert public(client, case_id, services)["description"] == "二马路井盖破损，已派人处理"
    assert main([*admin, "二马路井盖已更换", "--by", "chen.sup"]) == 0
    assert public(client, case_id, services)["description"] == "二马路井盖已更换"
    assert main([*admin, "随便写", "--by", "zhang.wei"]) != 0  # a worker is not a supervisor
    capsys.readouterr()
    assert main([*admin, "--history"]) == 0
    edits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["text"], e["before"]) for e in edits] == [
        ("二马路井盖破损，已派人处理", None),
        ("二马路井盖已更换", "二马路井盖破损，已派人处理"),
    ]
    assert all(e["edited_by"].startswith("chen.sup (os user ") for e in edits)
    audited = services.store.admin_actions(action="public-text")
    assert [(a.target, a.before, a.after) for a in audited] == [
        (case_no, {"text": None}, {"text": "二马路井盖破损，已派人处理", "by": "chen.sup"}),
        (case_no, {"text": "二马路井盖破损，已派人处理"}, {"text": "二马路井盖已更换", "by": "chen.sup"}),
    ]


def test_no_worker_name_id_or_device_id_and_no_photo_appears_anywhere_public(
    client: SyncClient, worker: TestDevice, supervisor: TestDevice, services: Any
) -> None:
    case_id = report(worker, "井盖破损")
    supervisor.push_ops([supervisor.move(case_id, "file", department="municipal", handler="wang.h")])
    worker.push_ops([worker.photo(case_id, "before"), worker.note(case_id, "张伟已到现场")])
    case_no = services.store.case(case_id).case_no
    people = {w.worker_id for w in services.store.workers()} | {w.name for w in services.store.workers()}
    devices = {d.device_id for d in services.store.devices()}
    assert {"zhang.wei", "张伟", "chen.sup", "wang.h"} <= people and len(devices) == 2
    paths = ["discovery", "services", "services/0101", "requests", f"requests/{case_no}", f"tokens/{case_id}"]
    for path in paths:
        for fmt in ("json", "xml"):
            response = client.get(f"/open311/v2/{path}.{fmt}")
            assert response.status_code == 200, (path, fmt, response.text)
            for secret in people | devices:
                assert secret not in response.text, (path, fmt, secret)
    [request] = client.get(f"/open311/v2/requests/{case_no}.json").json()
    assert request["media_url"] is None  # a before-photo is never published


def _jpeg_with_gps() -> bytes:
    from io import BytesIO

    from PIL import Image

    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model-X1"  # Model
    exif.get_ifd(0x8825)[2] = (22.0, 47.0, 15.123)  # GPSLatitude
    out = BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _closed_case_with_photos(services: Any) -> tuple[str, dict[str, str]]:
    """A closed case (as the store holds it after a full loop) with a before and an after photo
    whose sealed blobs have arrived; the photo ids by stage."""
    import hashlib

    from shared.crypto import b64e, new_photo_key, seal_photo
    from shared.model import Case, Location, Photo

    photos, ids = [], {}
    for n, stage in enumerate(("before", "after")):
        key = new_photo_key()
        blob = seal_photo(key, _jpeg_with_gps())
        sha = hashlib.sha256(blob).hexdigest()
        assert services.photos.store_whole(sha, blob)
        ids[stage] = f"{n + 1:032x}"
        photos.append(Photo(ids[stage], sha, len(blob), stage, b64e(key), "zhang.wei", 1772416800 + n))
    case = Case(case_id="c" * 32, case_no="2026000099", category="0101", reporter="zhang.wei", status="closed",
                location=Location(22.7875, 115.362375, 5.0, "gps"), grid_code="441502001001001", version=9,
                reported_at=1772416800 - 3600, closed_at=1772416800, photos=photos)  # fmt: skip
    with services.store.transaction() as tx:
        tx.save_cases([(case, tx.reserve_change_seqs(1))])
    return case.case_no, ids


def test_no_photo_is_published_by_default_even_of_a_closed_case(client: SyncClient, services: Any) -> None:
    case_no, ids = _closed_case_with_photos(services)
    [request] = client.get(f"/open311/v2/requests/{case_no}.json").json()
    assert request["media_url"] is None
    for photo_id in ids.values():
        assert client.get(f"/open311/v2/media/{'c' * 32}/{photo_id}.jpg").status_code == 404


@pytest.mark.parametrize("config_overrides", [{"open311_photo_stages": "after"}])
def test_a_city_may_publish_after_photos_of_closed_cases_without_their_metadata(
    client: SyncClient, services: Any
) -> None:
    from io import BytesIO

    from PIL import Image

    case_no, ids = _closed_case_with_photos(services)
    [request] = client.get(f"/open311/v2/requests/{case_no}.json").json()
    assert request["media_url"].endswith(f"/open311/v2/media/{'c' * 32}/{ids['after']}.jpg")
    photo = client.get(request["media_url"])
    assert (photo.status_code, photo.headers["content-type"]) == (200, "image/jpeg")
    published = Image.open(BytesIO(photo.content))
    assert published.size == (64, 48)
    assert not published.getexif()  # no GPS, no camera, no time
    assert b"PhoneMaker" not in photo.content and b"Model-X1" not in photo.content
    again = client.get(request["media_url"], headers={"If-None-Match": photo.headers["ETag"]})
    assert (again.status_code, again.content) == (304, b"")
    before = client.get(f"/open311/v2/media/{'c' * 32}/{ids['before']}.jpg")
    assert before.status_code == 404  # never a before-photo unless the city lists that stage


def test_a_public_text_that_is_not_valid_unicode_is_refused_and_nothing_is_kept(
    worker: TestDevice, services: Any
) -> None:
    from shared.errors import GridsyncError
    from sync_server.open311_intake import set_public_text

    case_no = services.store.case(report(worker)).case_no
    with pytest.raises(GridsyncError) as refused:
        set_public_text(services.store, case_no, "井盖\udc80破损", "chen.sup", 1772416800)
    assert refused.value.code == "request.malformed"
    assert services.store.public_text_edits() == []
