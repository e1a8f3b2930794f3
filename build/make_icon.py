"""Draw the app icon: a white map pin over a street grid, on the app's blue (its app bar, BLUE_900).

    .venv/bin/python build/make_icon.py        # writes assets/icon.png (1024 x 1024)

`flet build` makes every platform's launcher icons and the web favicon from `assets/icon.png`; served
in a browser (`python -m mobile.app --web`), the app makes its favicon and web-app icons from it at
start (`mobile/app/main.py`). The picture is opaque (iOS rejects transparent icons) and keeps the
pin inside the middle 60% of the square, so the circles and rounded squares launchers cut out of it
(Android adaptive icons, maskable web icons) never clip it.

Drawn at four times the size and scaled down, for smooth edges without an anti-aliasing library.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 1024
SCALE = 4
BLUE = (13, 71, 161)  # Material BLUE_900 (#0D47A1): the app bar
GRID_LINE = (66, 118, 201)  # lighter blue: the streets, quiet behind the pin
CELL = (30, 98, 200)  # the grid cell the pin stands in
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parents[1] / "assets" / "icon.png"


def draw(size: int = SIZE) -> Image.Image:
    big = size * SCALE
    unit = big / 1024  # design units: the drawing below is laid out on a 1024 square
    image = Image.new("RGB", (big, big), BLUE)
    pen = ImageDraw.Draw(image)

    def at(*values: float) -> list[float]:
        return [v * unit for v in values]

    # The grid: five by five cells, its middle column under the pin.
    first, cell, cells = 112, 160, 5
    tip_cell = (first + 2 * cell, first + 4 * cell)  # left, top of the bottom-middle cell
    pen.rectangle(at(tip_cell[0], tip_cell[1], tip_cell[0] + cell, tip_cell[1] + cell), fill=CELL)
    half = 6  # half a street's width; lines run on by as much so the corners close
    start, end = first - half, first + cells * cell + half
    for n in range(cells + 1):
        offset = first + n * cell
        pen.rectangle(at(offset - half, start, offset + half, end), fill=GRID_LINE)
        pen.rectangle(at(start, offset - half, end, offset + half), fill=GRID_LINE)

    # The pin: a round head and a point joined along the tangents, its tip in the lit cell and within
    # 300 units of the middle (the safe circle of an Android adaptive icon has a radius of ~313).
    cx, tip_y, radius = 512.0, 802.0, 165.0
    distance = 2.3 * radius  # from the head's centre to the tip
    cy = tip_y - distance
    # Tangent points: where a line from the tip touches the head (cos b = r / d from the tip's axis).
    b = math.acos(radius / distance)
    left = (cx - radius * math.sin(b), cy + radius * math.cos(b))
    right = (cx + radius * math.sin(b), cy + radius * math.cos(b))
    shadow = 44.0
    pen.ellipse(
        at(cx - shadow * 1.6, tip_y - shadow * 0.45, cx + shadow * 1.6, tip_y + shadow * 0.45), fill=BLUE
    )
    pen.polygon([tuple(at(*left)), tuple(at(*right)), tuple(at(cx, tip_y))], fill=WHITE)
    pen.ellipse(at(cx - radius, cy - radius, cx + radius, cy + radius), fill=WHITE)
    hole = radius * 0.42
    pen.ellipse(at(cx - hole, cy - hole, cx + hole, cy + hole), fill=BLUE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    draw().save(out, optimize=True)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
