"""The enrollment QR image: a real PNG, of a size a phone reads, whose modules are the code's."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
from PIL import Image

from sync_server.qr import BOX_PIXELS, QUIET_ZONE_MODULES, qr_png_bytes, write_qr_png

LINK = "gridsync://enroll?server=https%3A%2F%2Fgrid.shanwei.example%3A8443&code=K7QX-M2PD-9RTA&fp=3f9a0c1d2e4b5a69"


def test_png_decodes_as_a_square_image_of_sensible_size() -> None:
    data = qr_png_bytes(LINK)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    width, height = image.size
    assert width == height
    assert 200 <= width <= 800  # big enough to scan off a screen, small enough to print
    assert width % BOX_PIXELS == 0


def test_pixels_are_the_modules_of_the_qr_code_for_the_text() -> None:
    # Rebuild the module matrix with the same settings and sample the centre of every module.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE_MODULES)
    code.add_data(LINK.encode("utf-8"))
    code.make(fit=True)
    matrix = code.get_matrix()  # includes the quiet zone
    image = Image.open(io.BytesIO(qr_png_bytes(LINK))).convert("L")
    assert image.size == (len(matrix) * BOX_PIXELS,) * 2
    half = BOX_PIXELS // 2
    dark = [[image.getpixel((x * BOX_PIXELS + half, y * BOX_PIXELS + half)) == 0 for x in range(len(row))]
            for y, row in enumerate(matrix)]  # fmt: skip
    assert dark == matrix
    assert not any(matrix[0]) and not any(row[0] for row in matrix)  # the quiet zone is white


def test_chinese_text_is_encoded_as_utf8() -> None:
    image = Image.open(io.BytesIO(qr_png_bytes("汕尾市城区 网格员注册")))
    assert image.size[0] >= 200


def test_text_too_long_for_any_qr_code_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="too long"):
        qr_png_bytes("x" * 5000)


def test_write_qr_png_writes_the_same_png_and_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "enroll.png"
    write_qr_png(LINK, target)
    assert target.read_bytes() == qr_png_bytes(LINK)
    assert [p.name for p in tmp_path.iterdir()] == ["enroll.png"]
