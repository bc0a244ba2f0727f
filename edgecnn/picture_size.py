"""The width and height of a picture file, read from its header without decoding it.

A 213 KB PNG can hold 15000x15000 pixels, which OpenCV decodes into 675 MB (and the recipe's
buffers double that): files are measured first and refused above a limit. The formats are
those OpenCV reads for `train --images` (PNG, JPEG, BMP, WebP, TIFF, PBM/PGM/PPM), told
apart by their first bytes, as OpenCV does, whatever the file's name says.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0..7: no length follows


class UnknownPicture(ValueError):
    """Not a picture of a known format, or a header cut short."""


def picture_size(file: BinaryIO) -> tuple[int, int]:
    """(width, height) from the header of the picture in `file` (read from its start)."""
    head = file.read(32)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        if len(head) < 24:
            raise UnknownPicture("its header is cut short")
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(file)
    if head.startswith(b"BM") and len(head) >= 26:
        if struct.unpack("<I", head[14:18])[0] == 12:  # the OS/2 header: 16-bit sides
            return struct.unpack("<HH", head[18:22])
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head + file.read(32))
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_size(file, "<" if head[:2] == b"II" else ">")
    if head[:1] == b"P" and head[1:2] in b"123456":
        return _pnm_size(head + file.read(1024))
    raise UnknownPicture("not a PNG, JPEG, BMP, WebP, TIFF or PBM/PGM/PPM picture")


def _read(file: BinaryIO, count: int) -> bytes:
    data = file.read(count)
    if len(data) < count:
        raise UnknownPicture("its header is cut short")
    return data


def _jpeg_size(file: BinaryIO) -> tuple[int, int]:
    file.seek(2)
    while True:
        marker = _read(file, 2)
        while marker[1] == 0xFF:  # fill bytes before a marker
            marker = marker[1:] + _read(file, 1)
        if marker[0] != 0xFF:
            raise UnknownPicture("a JPEG marker is missing")
        if marker[1] in JPEG_STANDALONE_MARKERS:
            continue
        (length,) = struct.unpack(">H", _read(file, 2))
        if marker[1] in JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">xHH", _read(file, 5))
            return width, height
        if marker[1] in (0xD9, 0xDA) or length < 2:  # end of image, or scan data: no frame
            raise UnknownPicture("a JPEG without a frame header")
        file.seek(length - 2, 1)


def _webp_size(head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    raise UnknownPicture("a WebP without a known frame header")


def _tiff_size(file: BinaryIO, order: str) -> tuple[int, int]:
    """The first image's ImageWidth (256) and ImageLength (257) tags."""
    file.seek(4)
    (offset,) = struct.unpack(f"{order}I", _read(file, 4))
    file.seek(offset)
    (count,) = struct.unpack(f"{order}H", _read(file, 2))
    sides: dict[int, int] = {}
    for _ in range(count):
        tag, kind, _, value = struct.unpack(f"{order}HHI4s", _read(file, 12))
        if tag in (256, 257):
            if kind == 3:  # SHORT
                sides[tag] = struct.unpack(f"{order}H", value[:2])[0]
            elif kind == 4:  # LONG
                sides[tag] = struct.unpack(f"{order}I", value)[0]
    if 256 not in sides or 257 not in sides:
        raise UnknownPicture("a TIFF without its width and height")
    return sides[256], sides[257]


def _pnm_size(head: bytes) -> tuple[int, int]:
    """P1..P6: the magic, then width and height as text (comments start with #)."""
    words: list[bytes] = []
    for line in head[2:].splitlines():
        words += line.split(b"#", 1)[0].split()
        if len(words) >= 2:
            break
    try:
        return int(words[0]), int(words[1])
    except (IndexError, ValueError):
        raise UnknownPicture("a PBM/PGM/PPM header without its width and height") from None
