"""Hostile photos: on the phone, `prepare_photo` refuses each with a photo.* code and nothing else
escapes; on the server, the resumable upload refuses lies about size, offset and hash and keeps
nothing half-written. (The server stores sealed blobs by hash and does not decode images.)
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bench import fleet, harness
from mobile.core.photos import prepare_photo
from shared.auth import new_nonce, sign_request
from shared.errors import CATALOGUE, GridsyncError


def _jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((width, height), 40).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb_png(side: int = 30_000) -> bytes:
    """A valid 1-bit PNG declaring side × side: a few hundred KB that would decode to ~1 GB."""
    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_declaring(width: int, height: int) -> bytes:
    data = bytearray(_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _webp_declaring(width: int, height: int) -> bytes:
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _corrupt_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), (10, 200, 30)).save(out, "PNG")
    data = bytearray(out.getvalue())
    start = data.index(b"IDAT") + 8
    for i in range(start, min(start + 40, len(data) - 16)):
        data[i] ^= 0x5A
    return bytes(data)


HOSTILE_PHOTOS = {
    "png decompression bomb (30000 x 30000)": (_bomb_png, {"photo.bomb"}),
    "jpeg declaring 60000 x 60000": (lambda: _jpeg_declaring(60_000, 60_000), {"photo.bomb"}),
    "jpeg declaring 65535 x 1200 (78 MP)": (lambda: _jpeg_declaring(65_535, 1_200), {"photo.bomb"}),
    "webp declaring 16384 x 16384": (lambda: _webp_declaring(16_384, 16_384), {"photo.bomb"}),
    "jpeg declaring 0 x 0": (lambda: _jpeg_declaring(0, 0), {"photo.truncated"}),
    "truncated jpeg (half)": (lambda: _jpeg(800, 600)[: len(_jpeg(800, 600)) // 2], {"photo.truncated"}),
    "jpeg with only its header": (lambda: _jpeg()[:200], {"photo.truncated"}),
    "jpeg start marker only": (lambda: b"\xff\xd8\xff", {"photo.truncated"}),
    "png with corrupt pixels": (_corrupt_png, {"photo.truncated"}),
    "png header only": (lambda: b"\x89PNG\r\n\x1a\n", {"photo.truncated"}),
    "not an image (random bytes)": (lambda: random.Random(5).randbytes(8192), {"photo.not_image"}),
    "not an image (text)": (lambda: "这不是图片 / not a picture".encode() * 50, {"photo.not_image"}),
    "not an image (empty)": (lambda: b"", {"photo.not_image"}),
    "gif (not accepted)": (lambda: b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;", {"photo.not_image"}),
    "svg (not accepted)": (
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="1e9" height="1e9"/>',
        {"photo.not_image"},
    ),
    "input past 40 MiB": (lambda: b"\xff\xd8\xff" + b"\x00" * (40 * 1024 * 1024), {"photo.too_large"}),
}


@pytest.mark.parametrize("name", list(HOSTILE_PHOTOS))
def test_hostile_photo_is_refused_by_prepare_photo_with_its_code(name: str) -> None:
    make, codes = HOSTILE_PHOTOS[name]
    with pytest.raises(GridsyncError) as refused:
        prepare_photo(make())
    assert refused.value.code in codes, f"{name}: {refused.value.code} ({refused.value.detail})"


def test_random_bit_flips_in_a_jpeg_never_escape_as_anything_but_a_photo_code() -> None:
    good = _jpeg(320, 240)
    rng = random.Random(17)
    answered: dict[str, int] = {}
    for _ in range(60):
        spoiled = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            spoiled[rng.randrange(len(spoiled))] = rng.randrange(256)
        try:
            prepare_photo(bytes(spoiled))
            answered["ok"] = answered.get("ok", 0) + 1
        except GridsyncError as exc:
            assert exc.code.startswith("photo."), exc.code
            answered[exc.code] = answered.get(exc.code, 0) + 1
    assert sum(answered.values()) == 60


# --- the server's upload path ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[harness.Server, fleet.Member, Path]]:
    data_dir = tmp_path_factory.mktemp("photos") / "server"
    city, members = fleet.fleet(1, seed=71)
    fleet.build_server(data_dir, city, members)
    srv = harness.Server(data_dir)
    yield srv, members[0], data_dir
    srv.close()


def _put(
    srv: harness.Server, m: fleet.Member, sha: str, offset: int, size: int, chunk: bytes
) -> httpx.Response:
    query = f"offset={offset}&size={size}"
    path = f"/v1/photos/{sha}"
    headers = sign_request(m.signing, m.device_id, "PUT", path, query, chunk, srv.clock(), new_nonce())

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=srv.transport(), base_url=harness.SERVER_URL) as client:
            return await client.put(f"{path}?{query}", content=chunk, headers=headers)

    return asyncio.run(go())


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    assert response.status_code == CATALOGUE[code].status
    return code


def _leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "photos").rglob("*") if p.is_file())


def test_upload_whose_bytes_do_not_match_the_hash_is_dropped_whole(
    server: tuple[harness.Server, fleet.Member, Path],
) -> None:
    srv, m, data_dir = server
    claimed = hashlib.sha256(b"what the phone promised").hexdigest()
    assert _put(srv, m, claimed, 0, 10, b"0123456789").status_code >= 400
    assert _code(_put(srv, m, claimed, 0, 10, b"0123456789")) in {"photo.hash_mismatch"}
    assert claimed not in " ".join(_leftovers(data_dir))
    assert srv.services.store.photo(claimed) is None


def test_upload_lies_about_offset_and_size_are_refused(
    server: tuple[harness.Server, fleet.Member, Path],
) -> None:
    srv, m, _ = server
    blob = random.Random(3).randbytes(3000)
    sha = hashlib.sha256(blob).hexdigest()
    assert _put(srv, m, sha, 0, 3000, blob[:1000]).json()["received"] == 1000
    assert _code(_put(srv, m, sha, 2000, 3000, blob[2000:])) == "photo.bad_offset"  # skips ahead
    assert _code(_put(srv, m, sha, 1000, 3000, blob[1000:] + b"extra")) == "photo.too_large"  # past the size
    assert _code(_put(srv, m, sha, 1000, 4000, blob[1000:])) == "photo.hash_mismatch"  # size changed mid-way
    max_bytes = srv.services.config.max_photo_bytes
    assert _code(_put(srv, m, "ab" * 32, 0, max_bytes + 1, b"x")) == "photo.too_large"
    chunk_limit = srv.services.config.max_photo_chunk
    assert _code(_put(srv, m, "cd" * 32, 0, chunk_limit * 2, b"x" * (chunk_limit + 1))) == "request.too_large"
    assert _code(_put(srv, m, "../../etc/passwd", 0, 10, b"x")) in {"request.malformed", "request.not_found"}
    done = _put(srv, m, sha, 1000, 3000, blob[1000:])  # the honest rest still completes
    assert done.json()["complete"] is True
