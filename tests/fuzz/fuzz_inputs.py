"""Seeded damage for every input a user or an attacker hands the commands: model files,
model.json, capture manifests, resume states, URLs, regions of interest and images.

Each function takes a `random.Random` and returns the damaged input and a short note of
what was done (to reproduce a failure: the same seed gives the same input).
"""

from __future__ import annotations

import io
import json
import random
import struct
import zlib

import numpy as np

BOUNDARY_INTS = [0, 1, -1, 2, 127, 128, 255, 256, -128, -129, 32767, 32768, 65535, 65536,
                 2**31 - 1, -(2**31), 2**32, 2**53 + 1, 2**63 - 1, -(2**63), 10**30]  # fmt: skip
BOUNDARY_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, 1e-38, 3.4e38, 1e308, 5e-324,
                   float("nan"), float("inf"), float("-inf")]  # fmt: skip
ODD_TEXT = ["", " ", "\n", "a\nb", "\t", "\x00", "\x7f", "\u202e", "\ud800", "é", "日本",
            "../../etc/passwd", "/abs/path", "con", "a" * 300, "x" * 70_000, "%s%n", "\\"]  # fmt: skip


# --- bytes -----------------------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes, protect: int = 0) -> tuple[bytes, str]:
    """One byte-level damage of `data` (bit flips, overwritten or deleted runs, a cut, an
    inserted or repeated run, a 32-bit word set to a boundary); the first `protect` bytes
    are left alone (to damage a file past its magic number)."""
    out = bytearray(data)
    n = len(out)
    if n <= protect + 4:
        return bytes(out) + bytes(rng.randrange(256) for _ in range(8)), "appended 8 bytes"
    at = rng.randrange(protect, n)
    kind = rng.randrange(9)
    if kind == 0:
        flips = rng.randint(1, 8)
        for _ in range(flips):
            i = rng.randrange(protect, n)
            out[i] ^= 1 << rng.randrange(8)
        return bytes(out), f"{flips} bit flips"
    if kind == 1:
        length = min(rng.randint(1, 64), n - at)
        fill = rng.choice([0x00, 0xFF, None])
        out[at : at + length] = bytes(
            rng.randrange(256) if fill is None else fill for _ in range(length)
        )
        return bytes(out), f"{length} bytes at {at} overwritten ({fill})"
    if kind == 2:
        return bytes(out[:at]), f"cut at {at} of {n}"
    if kind == 3:
        length = rng.randint(1, 256)
        out[at:at] = bytes(rng.randrange(256) for _ in range(length))
        return bytes(out), f"{length} random bytes inserted at {at}"
    if kind == 4:
        length = min(rng.randint(1, 512), n - at)
        del out[at : at + length]
        return bytes(out), f"{length} bytes deleted at {at}"
    if kind == 5:
        length = min(rng.randint(1, 512), n - at)
        out[at:at] = out[at : at + length]
        return bytes(out), f"{length} bytes at {at} repeated"
    if kind == 6 and n - at >= 4:
        value = rng.choice(BOUNDARY_INTS) & 0xFFFFFFFF
        struct.pack_into("<I", out, at - (at % 4) if at - (at % 4) >= protect else at, value)
        return bytes(out), f"word at {at} set to {value:#x}"
    if kind == 7:
        return bytes(out) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 4096))), (
            "garbage appended"
        )
    return bytes(out[: rng.randint(protect, min(n, protect + 64))]), "cut near the start"


# --- models ----------------------------------------------------------------------------------


def damaged_model(rng: random.Random, model: bytes) -> tuple[bytes, str]:
    """A .tflite damaged field by field (quantisation, buffer sizes, operator inputs: the
    flatbuffer stays well-formed) or byte by byte."""
    if rng.random() < 0.5:
        damaged = field_damage(rng, model)
        if damaged is not None:
            return damaged
    kept = 8 if rng.random() < 0.8 else 0  # mostly past the TFL3 identifier
    damaged, note = mutate_bytes(rng, model, protect=kept)
    if rng.random() < 0.3:
        damaged, more = mutate_bytes(rng, damaged, protect=kept)
        note = f"{note}, {more}"
    return damaged, note


def field_damage(rng: random.Random, model: bytes) -> tuple[bytes, str] | None:
    import model_damage as md
    import tflite

    subgraph = tflite.Model.GetRootAs(model, 0).Subgraphs(0)
    tensors, operators = subgraph.TensorsLength(), subgraph.OperatorsLength()
    for _ in range(10):
        tensor = rng.randrange(tensors)
        choice = rng.randrange(6)
        try:
            if choice == 0:
                value = rng.choice(BOUNDARY_INTS)
                value = max(min(value, 2**63 - 1), -(2**63))
                return md.set_zero_point(
                    model, tensor, value
                ), f"tensor {tensor} zero point {value}"
            if choice == 1:
                value = rng.choice(BOUNDARY_FLOATS)
                return md.set_scale(model, tensor, value), f"tensor {tensor} scale {value}"
            if choice == 2:
                count = rng.choice([0, 2, 3, 1000, 2**31 - 1])
                return md.set_zero_point_count(model, tensor, count), (
                    f"tensor {tensor} zero point count {count}"
                )
            if choice == 3:
                count = rng.choice([0, 2, 3, 1000, 2**31 - 1])
                return md.set_scale_count(
                    model, tensor, count
                ), f"tensor {tensor} scale count {count}"
            if choice == 4:
                length = rng.choice([0, 1, 3, 7, 2**20, 2**31 - 1])
                return md.set_buffer_length(model, tensor, length), (
                    f"tensor {tensor} buffer length {length}"
                )
            operator = rng.randrange(operators)
            slot = rng.randrange(2)
            index = rng.choice([-1, -2, tensors, tensors + 1, 2**31 - 1, rng.randrange(tensors)])
            return md.set_operator_input(model, operator, slot, index), (
                f"operator {operator} input {slot} -> tensor {index}"
            )
        except (AssertionError, AttributeError, struct.error, IndexError, TypeError, OverflowError):
            continue  # that tensor has no such field (no quantisation, no buffer)
    return None


# --- JSON (model.json, manifest records, resume metadata) ------------------------------------


def random_json(rng: random.Random, depth: int = 0):
    """A JSON value of any type, leaning to the values parsers get wrong."""
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice(BOUNDARY_INTS)
    if kind == 3:
        return rng.choice(BOUNDARY_FLOATS)
    if kind in (4, 5):
        return rng.choice(ODD_TEXT)
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 3, 10]))]
    keys = ["labels", "input_range", "a", "", "file", "label", "format"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def mutate_json(rng: random.Random, data: dict) -> tuple[object, str]:
    """One structural change of a JSON object: a key set to an odd value (or a member of a
    list in it), a key removed, an unknown key added, the whole thing replaced."""
    data = json.loads(json.dumps(data))
    kind = rng.randrange(6)
    keys = list(data) or ["x"]
    key = rng.choice(keys)
    if kind in (0, 1):
        data[key] = random_json(rng)
        return data, f"{key!r} = {short(data[key])}"
    if kind == 2 and isinstance(data.get(key), list) and data[key]:
        i = rng.randrange(len(data[key]))
        data[key][i] = random_json(rng)
        return data, f"{key!r}[{i}] = {short(data[key][i])}"
    if kind == 3:
        data.pop(key, None)
        return data, f"{key!r} removed"
    if kind == 4:
        data[rng.choice(ODD_TEXT[:12])] = random_json(rng)
        return data, "an unknown key"
    replaced = rng.choice([[], None, 0, "", [data], {"": data}])
    return replaced, f"the whole object replaced by {short(replaced)}"


def json_bytes(rng: random.Random, value: object) -> tuple[bytes, str]:
    """`value` as JSON text, sometimes damaged as text: deep nesting, a byte-order mark, a
    non-UTF-8 byte, a cut, a duplicate key."""
    text = json.dumps(value)
    kind = rng.randrange(10)
    if kind == 0:
        depth = rng.choice([1000, 100_000])
        return ("[" * depth + "]" * depth).encode(), f"nested {depth} deep"
    if kind == 1:
        return b"\xef\xbb\xbf" + text.encode(), "a byte-order mark"
    if kind == 2:
        raw = text.encode()
        at = rng.randrange(len(raw) + 1)
        return raw[:at] + b"\xff\xfe" + raw[at:], "non-UTF-8 bytes"
    if kind == 3:
        raw = text.encode()
        return raw[: rng.randrange(len(raw) + 1)], "cut short"
    if kind == 4 and text.startswith("{") and len(text) > 2:
        return ('{"labels": 1, ' + text[1:]).encode(), "a duplicate key"
    if kind == 5 and text.startswith("{") and len(text) > 2:
        return ('{"big": ' + "9" * 5000 + ", " + text[1:]).encode(), "a 5000-digit number"
    return text.encode(), "as JSON"


def short(value: object, limit: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- text options: URLs and regions of interest ----------------------------------------------


def hostile_url(rng: random.Random, schemes: list[str]) -> str:
    """A URL built from parts known to trip parsers; half of them well-formed, so the
    connection code is reached too. Hosts never leave the machine (IP literals, localhost,
    names under .invalid), and the ports are ones nothing listens on."""
    if rng.random() < 0.5:
        scheme, separator = rng.choice(schemes), "://"
        user = rng.choice(["", "u@", "u:pw@", "user:p%40ss@"])
        host = rng.choice(["127.0.0.1", "[::1]", "localhost", "x.invalid"])
        port = rng.choice(["", ":1", ":9", ":65535"])
        path = rng.choice(["", "/", "/a/b", "/stream.mjpg", "/edgecnn/cam1", "/ä", "?q=1"])
        return f"{scheme}{separator}{user}{host}{port}{path}"
    scheme = rng.choice([*schemes, "", "RTSP", "h ttp", "file", "javascript", "a" * 70])
    user = rng.choice(["", "", "u@", "u:pw@", "u:@", ":pw@", "@", "u:p:q@", "%00@", "ü:ö@"])
    host = rng.choice(["127.0.0.1", "[::1]", "::1", "[::1", "localhost", "x.invalid", "",
                       "999.999.999.999", "ü.invalid", "a" * 300 + ".invalid", "[fe80::1%lo]",
                       "0", "127.0.0.1\t", "[]", "[::ffff:127.0.0.1]"])  # fmt: skip
    port = rng.choice(["", "", ":", ":0", ":1", ":9", ":65535", ":65536", ":-1", ":abc",
                       ":99999999999999999999", ": 9", ":٣"])  # fmt: skip
    path = rng.choice(["", "/", "/a/b", "/%", "/%zz", "/#", "/+/#/x", "/" + "t" * 70_000,
                       "/\x7f", "/ä", "/$SYS/x", "?q=1", "#frag", "/a//b", "/stream.mjpg"])  # fmt: skip
    separator = rng.choice(["://", "://", ":/", ":", "///"])
    return f"{scheme}{separator}{user}{host}{port}{path}"


ROI_PARTS = ["0", "1", "2", "4", "8", "30", "640", "641", "1000000", "1e20", "-1", "-1000000",
             "1.5", "1e3", "nan", "inf", "0x10", "٣", "", " 3", "3 ", "+4", "00", "9" * 400]  # fmt: skip
# Whole numbers about the materials' 320x240 picture: inside, on and past its edges, thin.
ROI_NUMBERS = [0, 1, 2, 3, 4, 7, 8, 30, 100, 200, 239, 240, 241, 319, 320, 321, 640, 4000,
               10**6, 2**31, 10**30, -1, -240]  # fmt: skip


def hostile_roi(rng: random.Random) -> str:
    """x,y,w,h: mostly four whole numbers at the edges of the picture (thin, empty, past its
    edges, huge), else text that is not four numbers."""
    if rng.random() < 0.4:  # inside the picture, down to a pixel or two
        x, y = rng.randrange(320), rng.randrange(240)
        return f"{x},{y},{rng.randint(0, 320 - x)},{rng.randint(0, 240 - y)}"
    if rng.random() < 0.5:
        return ",".join(str(rng.choice(ROI_NUMBERS)) for _ in range(4))
    if rng.random() < 0.2:
        return "".join(rng.choice(",;x 0123456789-.e") for _ in range(rng.randint(0, 30)))
    count = rng.choice([4, 4, 4, 0, 1, 3, 5])
    separator = rng.choice([",", ",", ", ", ";", "x", ",,"])
    return separator.join(rng.choice(ROI_PARTS) for _ in range(count))


# --- images ----------------------------------------------------------------------------------

IMAGE_FORMATS = [".png", ".jpg", ".bmp", ".tiff", ".webp", ".pgm"]


def damaged_image(rng: random.Random) -> tuple[bytes, str, str]:
    """(file bytes, file suffix, note): an image of an odd size, depth or channel count,
    encoded by OpenCV and then often damaged; or something that only claims to be one."""
    import cv2

    kind = rng.randrange(10)
    if kind == 0:
        return (
            rng.choice([b"", b"not an image\n", bytes(rng.randrange(256) for _ in range(64))]),
            (rng.choice(IMAGE_FORMATS)),
            "not an image",
        )
    suffix = rng.choice(IMAGE_FORMATS)
    height = rng.choice([1, 2, 3, 28, 30, 97, 480, 900, 1500])
    width = rng.choice([1, 2, 3, 28, 40, 640, 1000, 4000])
    channels = rng.choice([1, 3, 4]) if suffix != ".pgm" else 1
    depth = np.uint16 if suffix in (".png", ".tiff", ".pgm") and rng.random() < 0.3 else np.uint8
    np_rng = np.random.default_rng(rng.randrange(2**32))
    top = 65535 if depth is np.uint16 else 255
    pixels = np_rng.integers(0, top, (height, width, channels), endpoint=True).astype(depth)
    ok, encoded = cv2.imencode(suffix, pixels)
    if not ok:
        return b"", suffix, "OpenCV would not encode it: an empty file"
    data = encoded.tobytes()
    note = f"{width}x{height}x{channels} {np.dtype(depth).name} {suffix}"
    if suffix == ".png" and rng.random() < 0.3:
        big = rng.choice([0, 1, 15000, 65535, 2**31 - 1])
        return png_with_size(data, big, rng.choice([1, big])), suffix, f"{note}, header says {big}"
    if rng.random() < 0.6:
        data, damage = mutate_bytes(rng, data, protect=rng.choice([0, 16, 64]))
        note = f"{note}, {damage}"
    return data, suffix, note


def png_with_size(png: bytes, width: int, height: int) -> bytes:
    """`png` with its header (IHDR) claiming another size, its checksum made right again (so
    only the size is wrong: a decompression bomb's trick)."""
    ihdr = bytearray(png[12:29])  # b"IHDR" + 13 bytes
    struct.pack_into(">II", ihdr, 4, width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return png[:12] + bytes(ihdr) + crc + png[33:]


# --- capture manifests and resume states -----------------------------------------------------


def damaged_manifest(rng: random.Random, lines: list[bytes]) -> tuple[bytes, str]:
    """manifest.jsonl's lines changed as a crash, a bad disk or an editor would."""
    lines = list(lines)
    kind = rng.randrange(8)
    i = rng.randrange(len(lines)) if lines else 0
    if kind == 0 and lines:
        cut = rng.randrange(len(lines[-1]))
        lines[-1] = lines[-1][:cut]
        return b"".join(lines), f"last line cut at {cut} (no newline)"
    if kind == 1 and lines:
        record = json.loads(lines[i])
        changed, note = mutate_json(rng, record)
        lines[i] = json.dumps(changed).encode() + b"\n"
        return b"".join(lines), f"line {i + 1}: {note}"
    if kind == 2 and lines:
        del lines[i]
        return b"".join(lines), f"line {i + 1} removed"
    if kind == 3 and lines:
        lines.insert(i, lines[i])
        return b"".join(lines), f"line {i + 1} repeated"
    if kind == 4:
        junk = rng.choice([b"\n", b"\r\n", b"\xff\xfe\n", b"{}\n", b"[]\n", b"null\n",
                           b"x" * 100_000 + b"\n", b"\x00" * 512])  # fmt: skip
        lines.insert(i, junk)
        return b"".join(lines), f"junk at line {i + 1}"
    if kind == 5 and lines:
        raw, note = mutate_bytes(rng, lines[i])
        lines[i] = raw
        return b"".join(lines), f"line {i + 1}: {note}"
    if kind == 6:
        return b"", "emptied"
    raw, note = mutate_bytes(rng, b"".join(lines))
    return raw, note


def damaged_resume_state(rng: random.Random, state: bytes) -> tuple[bytes, str]:
    """resume_state.npz damaged as a file (bytes), or rewritten with its metadata or arrays
    changed (a well-formed .npz that holds the wrong things)."""
    kind = rng.randrange(3)
    if kind == 0:
        return mutate_bytes(rng, state)
    with np.load(io.BytesIO(state), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    if kind == 1:
        meta = json.loads(arrays["meta"].tobytes())
        changed, note = mutate_json(rng, meta)
        raw, how = json_bytes(rng, changed)
        arrays["meta"] = np.frombuffer(raw, dtype=np.uint8)
        note = f"meta {note} ({how})"
    else:
        name = rng.choice(sorted(arrays))
        how = rng.randrange(5)
        if how == 0:
            del arrays[name]
            note = f"{name} removed"
        elif how == 1:
            arrays[name] = arrays[name].astype(rng.choice([np.float16, np.int8, np.bool_]))
            note = f"{name} of another type"
        elif how == 2:
            arrays[name] = arrays[name].reshape(-1)[: max(0, arrays[name].size - 1)]
            note = f"{name} one value short"
        elif how == 3:
            arrays[name] = np.zeros((0,), np.float32)
            note = f"{name} empty"
        else:
            arrays[f"model/{len(arrays)}"] = np.ones((3,), np.float32)
            note = "an extra variable"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue(), note
