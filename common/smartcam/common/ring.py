"""Shared-memory frame ring: capture writes each frame once into a slot of a file that infer maps too.

The file lives on a tmpfs volume mounted only in capture (read-write) and infer (read-only); ZeroMQ then
carries just the frame header and `RingSlot` (ring id, slot, generation) instead of megabytes of pixels.

Layout (little-endian): one header page, then `slot_count` slots of `slot_bytes` each. The header holds
`MAGIC`, `VERSION`, slot_count (u32), slot_bytes (u64), the ring id (u64, new random value each time capture
creates the file) and one u64 generation per slot. A slot's streams are packed one after the other.

Seqlock: the writer makes a slot's generation odd, writes the pixels, makes it even again and names that
even generation in the message. The reader uses the slot's pixels in place and afterwards checks that the
generation is unchanged (`Frame.intact()`); if not, the slot was overwritten while in use and the frame is
dropped (counted), never used torn. The writer never reuses the two slots it delivered last (`pin`), so with
`SLOT_COUNT` = 4 an overwrite needs a reader more than two deliveries behind.

The ring is never resized in place: capture writes a new file and renames it over the old one (a restart
or a larger frame), so a reader's mapping stays valid until it sees the new ring id and maps the new file.
"""

from __future__ import annotations

import errno
import logging
import math
import mmap
import os
import secrets
import struct
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from smartcam.common.wire import Frame, RingSlot

MAGIC = b"SMARTCAM-RING\0\0\0"  # 16 bytes
VERSION = 1
HEADER_BYTES = 4096  # one page: slots start page-aligned
_FIXED = struct.Struct("<16sIIQQ")  # magic, version, slot_count, slot_bytes, ring_id
GENERATIONS_OFFSET = 64
_GENERATION = struct.Struct("<Q")
MAX_SLOTS = (HEADER_BYTES - GENERATIONS_OFFSET) // _GENERATION.size
# Four slots: two pinned for the reader (the frame it is processing and the one it was sent in advance),
# one for the newest undelivered frame, one being written. Memory: 4 x the frame's bytes (main + lores).
SLOT_COUNT = 4
PINNED = 2
RING_ID_BITS = 53  # fits a JSON number exactly everywhere
_FIX_FILE = ("capture re-creates it when it starts: restart capture, and make sure nothing else writes the "
             "frames volume (compose.yaml mounts it read-write only in capture)")


class RingError(Exception):
    """The ring file cannot be created or is not a valid ring; `kind` is a short label for counting."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _page_round(size: int) -> int:
    return max(mmap.PAGESIZE, math.ceil(size / mmap.PAGESIZE) * mmap.PAGESIZE)


class _Fence:
    """Keeps the pixel accesses on their side of a generation access, also on weakly ordered CPUs (a Pi's ARM).

    Python has no memory barrier; a lock released and then taken again is a store-release followed by a
    load-acquire, which ARMv8 does not reorder, so nothing before the release moves after the acquire.
    On x86 the ordering holds anyway. Thread-safe (infer may check frames from more than one thread).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            pass
        with self._lock:
            pass


def _flat_bytes(buffer: Any) -> memoryview:
    """A stream's pixels as one flat byte view (numpy arrays, bytes, memoryviews, zmq buffers)."""
    if isinstance(buffer, np.ndarray):
        return np.ascontiguousarray(buffer).data.cast("B")
    return memoryview(buffer).cast("B")


def _generation_offset(index: int) -> int:
    return GENERATIONS_OFFSET + index * _GENERATION.size


class RingWriter:
    """Capture side: owns the ring file; `put()` copies a frame into a free slot and returns its header-only twin."""

    def __init__(self, path: Path, logger: logging.Logger, slot_count: int = SLOT_COUNT,
                 frame_bytes: int = 0) -> None:
        """`frame_bytes` (one frame's streams, when known from the settings) creates the ring at once, so a
        volume too small shows at start; 0 creates it at the first frame. A larger frame makes a new ring."""
        if not 2 <= slot_count <= MAX_SLOTS:
            raise ValueError(f"slot_count must be 2..{MAX_SLOTS}, got {slot_count}")
        self.path = path
        self._logger = logger
        self._slot_count = slot_count
        self._map: mmap.mmap | None = None
        self._slot_bytes = 0
        self._ring_id = 0
        self._generations = [0] * slot_count
        self._next = 0
        self._pinned: deque[int] = deque(maxlen=PINNED)
        self._fence = _Fence()
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK | os.X_OK):
            raise RingError("no_volume", f"the frame ring folder {path.parent} (SMARTCAM_FRAME_RING_FILE) is missing "
                                         "or not writable; mount the frames volume there read-write (compose.yaml), "
                                         "or set SMARTCAM_FRAME_TRANSPORT=tcp")
        if frame_bytes > 0:
            self._create(_page_round(frame_bytes))

    @property
    def ring_id(self) -> int:
        return self._ring_id

    def put(self, frame: Frame) -> Frame:
        """Write `frame`'s streams into a slot; the same frame with a `RingSlot` and no buffers, to send."""
        sizes = [part.nbytes for part in frame.parts]
        if self._map is None or sum(sizes) > self._slot_bytes:
            self._create(_page_round(max(sum(sizes), self._slot_bytes)))
        assert self._map is not None
        index = self._free_slot()
        self._generations[index] += 1  # odd: being written
        _GENERATION.pack_into(self._map, _generation_offset(index), self._generations[index])
        self._fence()
        offset = HEADER_BYTES + index * self._slot_bytes
        for size, buffer in zip(sizes, frame.buffers, strict=True):
            self._map[offset:offset + size] = _flat_bytes(buffer)
            offset += size
        self._fence()
        self._generations[index] += 1  # even: complete
        _GENERATION.pack_into(self._map, _generation_offset(index), self._generations[index])
        return replace(frame, buffers=[], ring=RingSlot(self._ring_id, index, self._generations[index]))

    def pin(self, slot: RingSlot) -> None:
        """`slot` was delivered: keep it (and the one delivered before) from being overwritten."""
        if slot.ring_id == self._ring_id and slot.index not in self._pinned:
            self._pinned.append(slot.index)

    def _free_slot(self) -> int:
        for step in range(self._slot_count):
            index = (self._next + step) % self._slot_count
            if index not in self._pinned:
                self._next = (index + 1) % self._slot_count
                return index
        raise AssertionError("unreachable: fewer slots pinned than exist")  # pragma: no cover

    def _create(self, slot_bytes: int) -> None:
        """A new ring file, written aside and renamed into place, so readers never see a half-made one."""
        size = HEADER_BYTES + self._slot_count * slot_bytes
        temporary = self.path.with_name(f".{self.path.name}.new")
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                os.posix_fallocate(fd, 0, size)  # claim the tmpfs pages now: a full volume fails here, not mid-write
            except OSError as error:
                os.unlink(temporary)
                if error.errno in (errno.ENOSPC, errno.EFBIG):
                    raise RingError("no_space", f"the frame ring needs {size / 2**20:.1f} MiB ({self._slot_count} "
                                                f"slots of {slot_bytes / 2**20:.1f} MiB) but its volume at "
                                                f"{self.path.parent} has no room; raise the frames volume's size "
                                                "in compose.yaml or lower SMARTCAM_FRAME_WIDTH/HEIGHT") from error
                raise
            new_map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        ring_id = secrets.randbits(RING_ID_BITS)
        _FIXED.pack_into(new_map, 0, MAGIC, VERSION, self._slot_count, slot_bytes, ring_id)
        os.replace(temporary, self.path)
        if self._map is not None:
            self._map.close()
        self._map, self._slot_bytes, self._ring_id = new_map, slot_bytes, ring_id
        self._generations = [0] * self._slot_count
        self._pinned.clear()
        self._logger.info("frame ring %s: %d slots of %.1f MiB (ring id %d)", self.path, self._slot_count,
                          slot_bytes / 2**20, ring_id)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


class _MappedRing:
    """One validated, read-only mapping of a ring file."""

    def __init__(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise RingError("missing", f"frame ring file {path} does not exist, but capture sends frames through it; "
                                       "mount the frames volume in infer too (compose.yaml), or run both with "
                                       "SMARTCAM_FRAME_TRANSPORT=tcp") from None
        except PermissionError:
            raise RingError("unreadable", f"frame ring file {path} is not readable; infer and capture must run as "
                                          "the same user (10001 in compose.yaml)") from None
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_BYTES:
                raise RingError("short", f"frame ring file {path} is {size} bytes, shorter than its "
                                         f"{HEADER_BYTES}-byte header; {_FIX_FILE}")
            self.map = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        magic, version, slot_count, slot_bytes, ring_id = _FIXED.unpack_from(self.map, 0)
        if magic != MAGIC:
            raise RingError("foreign", f"{path} is not a smartcam frame ring (no {MAGIC.rstrip(bytes(1))!r} "
                                       f"marker); {_FIX_FILE}")
        if version != VERSION:
            raise RingError("version", f"frame ring file {path} has layout version {version}, this infer reads "
                                       f"{VERSION}; run capture and infer of the same release")
        expected = HEADER_BYTES + slot_count * slot_bytes
        if not 1 <= slot_count <= MAX_SLOTS or slot_bytes <= 0 or size != expected:
            raise RingError("short", f"frame ring file {path} is {size} bytes, but its header describes "
                                     f"{slot_count} slots of {slot_bytes} bytes ({expected} bytes); {_FIX_FILE}")
        self.ring_id: int = ring_id
        self.slot_count: int = slot_count
        self.slot_bytes: int = slot_bytes

    def generation(self, index: int) -> int:
        value: int = _GENERATION.unpack_from(self.map, _generation_offset(index))[0]
        return value


class RingReader:
    """Infer side: `attach()` turns a header-only ring frame into one whose buffers are views of its slot."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ring: _MappedRing | None = None
        self._fence = _Fence()

    def attach(self, frame: Frame) -> Frame:
        """`frame` with read-only views of its slot and a guard for `Frame.intact()`.

        Raises RingError: `stale` (the slot was already overwritten or the ring replaced: a dropped frame),
        or a problem with the file or the message (`missing`, `short`, `foreign`, `version`, `bad_slot`).
        """
        slot = frame.ring
        if slot is None:
            return frame
        ring = self._mapping(slot.ring_id)
        if slot.index >= ring.slot_count:
            raise RingError("bad_slot", f"frame {frame.seq} names slot {slot.index}, the ring has {ring.slot_count}")
        sizes = [part.nbytes for part in frame.parts]
        if sum(sizes) > ring.slot_bytes:
            raise RingError("bad_slot", f"frame {frame.seq} needs {sum(sizes)} bytes, a ring slot holds "
                                        f"{ring.slot_bytes}")
        if ring.generation(slot.index) != slot.generation:
            raise RingError("stale", f"slot {slot.index} of frame {frame.seq} was overwritten before it was read")
        self._fence()  # the pixels are read after the generation was
        offset = HEADER_BYTES + slot.index * ring.slot_bytes
        views: list[Any] = []
        for size in sizes:
            views.append(np.frombuffer(ring.map, np.uint8, count=size, offset=offset))
            offset += size
        index, generation, fence = slot.index, slot.generation, self._fence

        def intact() -> bool:
            fence()  # the generation is read after the pixels were
            return ring.generation(index) == generation

        return replace(frame, buffers=views, guard=intact)

    def _mapping(self, ring_id: int) -> _MappedRing:
        """The mapping for `ring_id`, re-mapping the file when capture has created a new ring."""
        if self._ring is not None and self._ring.ring_id == ring_id:
            return self._ring
        # The previous mapping is only dropped, not closed: frames still in use hold views of it.
        ring = _MappedRing(self.path)
        if ring.ring_id != ring_id:
            raise RingError("stale", f"frame names ring {ring_id}, {self.path} holds ring {ring.ring_id} "
                                     "(capture replaced the ring after sending it)")
        self._ring = ring
        return ring
