"""5. The phone: saving a report locally, and making a 12-megapixel photo ready.

A report is one local transaction (the case view and the outbox op together); it is timed at two
sizes of local store so growth is visible. The photo pipeline (`prepare_photo`: header checks,
decode, orient, resize to 1600 px, thumbnail, JPEG encode, hash) is timed beside Pillow's plain
decode of the same JPEG: the baseline any pipeline has to pay at least part of.
"""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

from PIL import Image

from bench import fleet, harness
from bench.measure import percentile, workdir
from mobile.core.location import Fix
from mobile.core.photos import prepare_photo


def camera_jpeg(width: int = 4000, height: int = 3000, seed: int = 7) -> bytes:
    """A phone-camera-like JPEG: noisy gradients (about as hard to compress as a photo), EXIF
    orientation 6 (the phone held upright) and a DateTimeOriginal, quality 90."""
    noise = Image.effect_noise((width, height), 40)
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB",
        (
            Image.blend(gradient, noise, 0.5),
            Image.blend(gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise, 0.3),
            gradient.transpose(Image.Transpose.ROTATE_90).resize((width, height)),
        ),
    )
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8769] = {0x9003: "2026:09:21 07:08:09"}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def _time(fn: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def photo(runs: int = 7) -> dict[str, Any]:
    results = {}
    for label, (w, h) in (("12 MP", (4000, 3000)), ("48 MP", (8000, 6000))):
        data = camera_jpeg(w, h)

        def plain_decode(data: bytes = data) -> None:
            with Image.open(io.BytesIO(data)) as im:
                im.load()

        prepare_photo(data)  # warm up (imports, codec tables)
        pipeline = _time(lambda data=data: prepare_photo(data), runs)
        decode = _time(plain_decode, runs)
        results[label] = {
            "bytes": len(data),
            "runs": runs,
            "prepare_p50_s": percentile(pipeline, 50),
            "prepare_max_s": max(pipeline),
            "decode_p50_s": percentile(decode, 50),
            "ratio_vs_decode": percentile(pipeline, 50) / percentile(decode, 50),
        }
    return results


async def _reports(sizes: tuple[int, ...], timed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with workdir("phone") as work:
        city, members = fleet.fleet(1, seed=5)
        fleet.build_server(work / "server", city, [])
        server = harness.Server(work / "server")
        harness.add_workers(server.services, members)
        device = await server.phone(work / "phone", members[0].worker_id)
        cell = members[0].cells[0]
        made = 0
        try:
            for size in sizes:
                while made < size:  # grow the local store to `size` cases first
                    lat, lon = cell.point((made % 97) / 97, (made % 89) / 89)
                    device.report(
                        category="0101", location=Fix(lat, lon, 5.0, server.clock()), description="x"
                    )
                    made += 1
                times = []
                for i in range(timed):
                    lat, lon = cell.point((i % 13) / 13, (i % 11) / 11)
                    start = time.perf_counter()
                    device.report(
                        category="0101",
                        location=Fix(lat, lon, 6.0, server.clock()),
                        description="井盖松动 / loose manhole cover",
                        address="香洲路 12 号",
                    )
                    times.append(time.perf_counter() - start)
                made += timed
                out[f"{size} cases held"] = {
                    "runs": timed,
                    "p50_ms": percentile(times, 50) * 1000,
                    "p99_ms": percentile(times, 99) * 1000,
                }
        finally:
            device.close()
            server.close()
    return out


def reports(sizes: tuple[int, ...] = (100, 5000), timed: int = 300) -> dict[str, Any]:
    return asyncio.run(_reports(sizes, timed))
