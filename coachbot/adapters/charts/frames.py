"""Length-prefixed frames over a pipe: how the bot and its drawing process talk.

A request is one frame of JSON (`{"render": "module:function", "data": {...}}`); an answer is one
status byte (OK or FAILED) and one frame (the PNG, or the failed drawing's exception name). No pickle:
the data is the outbox row's JSON, so nothing richer is needed, and nothing read from the pipe can
run code.
"""

from __future__ import annotations

import os
import select
import struct
import time

OK = b"\x00"
FAILED = b"\x01"
HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 2**20
"""A PNG of a few hundred kilobytes is the largest thing sent; anything near this is a broken pipe."""


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, size: int, deadline: float | None = None) -> bytes:
    """`size` bytes from `fd`; EOFError if the other end closed first, TimeoutError once `deadline`
    (a `time.monotonic()` value) passes."""
    chunks: list[bytes] = []
    while size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no answer from the drawing process in time")
        chunk = os.read(fd, min(size, 2**20))
        if not chunk:
            raise EOFError("the other end of the pipe closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> bytes:
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size, deadline))
    if size > MAX_FRAME:
        raise EOFError(f"a frame of {size} bytes: the pipe is out of step")
    return read_exact(fd, size, deadline)
