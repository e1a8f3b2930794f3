"""A client generated from the server's OpenAPI document by a mainstream generator
(openapi-python-client, from PyPI) compiles, and performs one sync round against the real app:
enroll, push a sealed segment, upload a photo in two chunks, pull the changes, and read a refusal
as the typed error body. The client is generated here, into tmp_path, never committed; the only
thing added by hand is the device's signature, in an httpx event hook, as a phone adds it."""

from __future__ import annotations

import compileall
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest

from shared import crypto
from shared.auth import sign_request
from shared.envelope import open_box
from sync_server.api.app import build_app
from sync_server.enrollment import create_code
from sync_server.services import Services
from tests.server.conftest import Clock
from tests.server.device import TestDevice, hex32

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "gridsync_generated_client"


@pytest.fixture
def generated(tmp_path: Path, services: Services) -> Iterator[ModuleType]:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(build_app(services).openapi()), "utf-8")
    # the generator's own setting for media types it does not know: a JPEG is bytes, as octet-stream is
    settings = tmp_path / "generator.json"
    settings.write_text(json.dumps({"content_type_overrides": {"image/jpeg": "application/octet-stream"}}))
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--output-path", str(tmp_path / PACKAGE),
         "--meta", "none", "--config", str(settings)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr  # every operation generated
    assert compileall.compile_dir(tmp_path / PACKAGE, quiet=1)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def signer(phone: TestDevice, clock: Clock) -> Any:
    """An httpx request hook: the device's four headers over the request as it will be sent."""

    async def sign(request: httpx.Request) -> None:
        if not phone.device_id:  # enrollment is the one unsigned call
            return
        body = request.read()
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        request.headers.update(
            sign_request(phone.signing, phone.device_id, request.method, path, request.url.query.decode(), body,
                         clock.now, crypto.b64e(os.urandom(18)))
        )  # fmt: skip

    return sign


def test_a_generated_client_performs_a_sync_round(
    generated: ModuleType, services: Services, clock: Clock
) -> None:
    api = importlib.import_module(PACKAGE + ".api")
    models = importlib.import_module(PACKAGE + ".models")
    types = importlib.import_module(PACKAGE + ".types")
    enroll = importlib.import_module(PACKAGE + ".api.enrollment.enroll")
    push_segment = importlib.import_module(PACKAGE + ".api.sync.push_segment")
    pull_changes = importlib.import_module(PACKAGE + ".api.sync.pull_changes")
    put_photo_chunk = importlib.import_module(PACKAGE + ".api.photos.put_photo_chunk")
    photo_status = importlib.import_module(PACKAGE + ".api.photos.photo_status")
    conflicts = importlib.import_module(PACKAGE + ".api.review.conflicts")
    assert api is not None
    phone = TestDevice(client=None, clock=clock)
    code = create_code(services.store, "zhang.wei", clock.now, 3600)
    app = build_app(services)

    async def round_trip() -> None:
        client = generated.Client(
            base_url="http://gridsync.test",
            raise_on_unexpected_status=True,
            httpx_args={"transport": httpx.ASGITransport(app=app), "event_hooks": {"request": [signer(phone, clock)]}},
        )  # fmt: skip
        async with client as c:
            enrolled = await enroll.asyncio(
                client=c, body=models.EnrollRequest.from_dict(phone.enroll_body(code))
            )
            assert isinstance(enrolled, models.Enrollment), enrolled
            phone.device_id, phone.worker_id = enrolled.device_id, enrolled.worker.worker_id
            phone.server = enrolled.server.to_dict()

            blob = b"sealed photo bytes " * 100
            sha = crypto.sha256_hex(blob)
            case_id = hex32()
            create = phone.create(case_id)
            photo = phone.photo(case_id, "before", sha256=sha)
            photo["payload"]["size"] = len(blob)
            receipt = await push_segment.asyncio(
                client=c, body=types.File(payload=phone.seal([create, photo]))
            )
            assert isinstance(receipt, models.Receipt), receipt
            assert receipt.status == "applied"
            assert [o.outcome for o in receipt.outcomes] == ["applied", "applied"]

            half = len(blob) // 2
            first = await put_photo_chunk.asyncio(sha, client=c, offset=0, size=len(blob),
                                                  body=types.File(payload=blob[:half]))  # fmt: skip
            assert isinstance(first, models.PhotoStatus) and (first.received, first.complete) == (half, False)
            await put_photo_chunk.asyncio(
                sha, client=c, offset=half, size=len(blob), body=types.File(payload=blob[half:])
            )
            status = await photo_status.asyncio(sha, client=c)
            assert isinstance(status, models.PhotoStatus) and status.complete

            sealed = await pull_changes.asyncio_detailed(client=c, cursor=0, limit=100)
            assert sealed.status_code == 200
            page = json.loads(open_box(sealed.content, recipient_private=phone.encryption,
                                       signer_public_raw=crypto.b64d(phone.server["signing_key"]),
                                       context=b"changes", max_plain_bytes=1 << 26))  # fmt: skip
            assert [c["case_id"] for c in page["cases"]] == [case_id]
            assert page["cases"][0]["photos"][0]["sha256"] == sha

            refused = await conflicts.asyncio(client=c)  # a worker does not review conflicts
            assert isinstance(refused, models.ErrorBody) and refused.error.code == "request.forbidden"

    anyio.run(round_trip)
