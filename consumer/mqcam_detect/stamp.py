"""The frame stamp (see wire/src/lib.rs in the mqcam repository for the byte layout).

A version 2 frame is a plain JPEG whose stamp is an APP9 segment named ``MQCF``; a
version 1 payload (older edges) is a 48-byte header followed by the JPEG.
"""
import struct
from typing import NamedTuple, Optional, Tuple

MAGIC = b"MQCF"
APP9 = 0xE9


class Stamp(NamedTuple):
    sequence: int
    capture_us: int
    encoded_us: int
    width: int
    height: int
    published_us: int


def _fields(b: bytes) -> Stamp:
    # Fields a shorter (older) stamp does not have read as 0.
    b = b[:40].ljust(40, b"\0")
    return Stamp(*struct.unpack("<QQQIIQ", b))


def parse(payload: bytes) -> Tuple[Optional[Stamp], bytes]:
    """(stamp, jpeg): the stamp is None for a JPEG without one; ValueError for neither."""
    if payload[:4] == MAGIC:
        if len(payload) < 40 or payload[4] != 1:
            raise ValueError("not a version 1 frame")
        header_len = struct.unpack_from("<H", payload, 6)[0]
        if not 40 <= header_len <= len(payload):
            raise ValueError("bad version 1 header length")
        return _fields(payload[8:header_len]), payload[header_len:]
    if payload[:2] != b"\xff\xd8":
        raise ValueError("neither a JPEG nor an mqcam frame")
    at = 2
    while at + 4 <= len(payload) and payload[at] == 0xFF:
        marker = payload[at + 1]
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            break
        length = struct.unpack_from(">H", payload, at + 2)[0]
        segment = payload[at + 4 : at + 2 + length]
        if marker == APP9 and segment[:4] == MAGIC and len(segment) >= 6:
            if segment[4] != 2:
                raise ValueError(f"unknown stamp version {segment[4]}")
            return _fields(segment[6:]), payload
        at += 2 + length
    return None, payload
