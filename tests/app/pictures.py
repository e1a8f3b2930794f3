"""Photos for the browser tests: small drawn street scenes, so thumbnails in screenshots read as
pictures of something (a broken manhole cover, the repaired one, the site checked)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw


def street_scene(kind: str, size: tuple[int, int] = (1200, 900)) -> bytes:
    w, h = size
    image = Image.new("RGB", size, (120, 122, 126))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, w, h // 3], fill=(150, 190, 230))  # sky
    draw.rectangle([0, h // 3, w, h // 3 + 40], fill=(190, 180, 160))  # kerb
    for x in range(0, w, 160):  # lane marks
        draw.rectangle([x, int(h * 0.8), x + 90, int(h * 0.8) + 14], fill=(240, 240, 240))
    cx, cy, r = w // 2, int(h * 0.6), h // 6
    if kind == "broken":
        draw.ellipse([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=(25, 25, 25))
        draw.polygon([(cx - r, cy), (cx - r // 3, cy - r // 2), (cx, cy + r // 3)], fill=(70, 70, 70))
        draw.polygon([(cx - 40, cy - 60), (cx + 60, cy - 10), (cx + 20, cy + 70)], fill=(200, 60, 40))  # cone
    else:
        draw.ellipse(
            [cx - r, cy - r // 2, cx + r, cy + r // 2], fill=(60, 60, 62), outline=(30, 30, 30), width=8
        )
        for i in range(-2, 3):
            draw.line([cx - r + 30, cy + i * 18, cx + r - 30, cy + i * 18], fill=(90, 90, 95), width=6)
        if kind == "verification":
            draw.rectangle([40, 40, 260, 120], fill=(255, 255, 255))
            draw.text((60, 70), "CHECKED", fill=(0, 120, 0))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def write(folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}.jpg"
    path.write_bytes(street_scene(kind))
    return path
