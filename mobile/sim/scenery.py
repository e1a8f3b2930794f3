"""Generated field material: photos of incidents (small JPEGs) and the people of a simulated city."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from mobile.core.location import Fix
from shared.catalogue import GridCell
from shared.geo import polygon_centroid


def incident_photo(rng: random.Random, size: tuple[int, int] = (320, 240)) -> bytes:
    """A distinct JPEG: a coloured background, a few shapes and some noise."""
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(10, 120), y0 + rng.randrange(10, 90)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    noise = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    image = Image.blend(image, Image.merge("RGB", (noise, noise, noise)), 0.15)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def fix_in(cell: GridCell, rng: random.Random, at: int) -> Fix:
    lon, lat = polygon_centroid(cell.polygon)
    w, s, e, n = cell.bbox
    lat += rng.uniform(-0.3, 0.3) * (n - s)
    lon += rng.uniform(-0.3, 0.3) * (e - w)
    return Fix(lat, lon, rng.uniform(3, 15), at, "gps")


@dataclass(frozen=True)
class Person:
    worker_id: str
    name: str
    role: str
    grids: tuple[str, ...] = ()
    department: str | None = None
    all_grids: bool = False


def cast(n: int, grid_codes: list[str], departments: list[str]) -> list[Person]:
    """N people: one supervisor, about a quarter handlers (one department each), the rest grid workers
    in pairs sharing grids (so two phones can edit the same case)."""
    people = [Person("sim.supervisor", "Supervisor", "supervisor", all_grids=True)]
    handlers = max(1, (n - 1) // 4) if n >= 3 else 0
    for i in range(handlers):
        people.append(
            Person(
                f"sim.handler{i + 1}",
                f"Handler {i + 1}",
                "handler",
                department=departments[i % len(departments)],
            )
        )
    for i in range(max(0, n - 1 - handlers)):
        pair = i // 2
        grids = tuple(grid_codes[(pair * 2 + k) % len(grid_codes)] for k in range(2))
        people.append(Person(f"sim.worker{i + 1}", f"Worker {i + 1}", "worker", grids))
    return people[:n]
