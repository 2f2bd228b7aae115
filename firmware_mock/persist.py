"""Crash-safe saving of the pump's state: A/B state records plus a journal of log entries.

State records go alternately to files "state_a" and "state_b":
    b"PMS2" | generation u32 | log shift u32 | body length u32 | body | first 8 bytes of SHA-256(generation .. body)
The newest record that checks out wins, so a write cut at any byte leaves the previous one.

Log entries go to file "log", a ring of 2 x LOG_CAPACITY fixed 20-byte slots (entry i in slot
(i + log shift) % slots): index u32 | clock_s u32 | kind u8 | code u8 | value u32 | value2 u32 |
CRC-16 BE. They are written before the state record that counts them, so a committed record
never points at an entry that is not on storage. Committed means kept: the committed window
(at most LOG_CAPACITY entries, ending at the record's next index) and the at most LOG_CAPACITY
entries of one save never share a slot, because the new entries go to the slots that follow
the committed ones. When a save does not continue where the last one ended (the log was reset,
or more entries came than the RAM log holds, so some were never saved), the new record moves
the log shift so that its first entry still lands in the slot after the committed window.
"""

import hashlib
import struct

from . import heap
from .framing import crc16
from .packing import packer

SLOTS = ("state_a", "state_b")
LOG_FILE = "log"
CHUNK = 240  # bytes: the one buffer every storage read and journal write goes through (12 entries)
_MAGIC = b"PMS2"
_HEAD = packer("<4sIII")  # magic, generation, log shift, body length
_DIGEST = 8
_ENTRY_FORMAT = "<IIBBII"
_ENTRY = packer(_ENTRY_FORMAT)
_CRC_FORMAT = ">H"
_CRC = packer(_CRC_FORMAT)
ENTRY_SIZE = _ENTRY.size + 2
_PER_CHUNK = CHUNK // ENTRY_SIZE


def _record(generation, body, log_shift=0):
    """A whole state record in one piece (tests build records with it; save() writes the parts)."""
    head = _HEAD.pack(_MAGIC, generation, log_shift, len(body))
    return b"".join((head, body, _digest(head, body)))


def _digest(head, body):
    digest = hashlib.sha256(head[4:])
    digest.update(body)
    return digest.digest()[:_DIGEST]


def encode_entry(index, entry):
    raw = _ENTRY.pack(index & 0xFFFFFFFF, *entry)
    return raw + _CRC.pack(crc16(raw))


class Persistence:
    """Saves and loads through a storage object (see storage.py for the interface).

    Every read and every journal write goes through one CHUNK-byte buffer made at boot; a state
    record is written as its head, its body's parts in CHUNK-byte views and its digest, so storage
    is never asked for more than CHUNK bytes at a time, and a body is never joined: the pump loads
    one through a BodyReader, field group by field group (load() joins one, for tests and tools)."""

    def __init__(self, storage, log_capacity):
        self.storage = storage
        self.capacity = log_capacity
        self.slots = 2 * log_capacity  # room for a committed window and one save's new entries
        self.generation = 0  # of the newest intact record
        self.slot = 1  # where it is; the next record goes to the other slot
        self.log_shift = 0  # the newest record's: entry i is in journal slot (i + shift) % slots
        self.saved_log_next = 0  # log entries below this index are on storage
        self._attempt = None  # (slot, generation) of the record being written
        self._buf = bytearray(CHUNK)  # a view of it is made per call: a pump must stay deep-copyable
        self.largest_buffer = 0  # bytes: the largest storage read, write or body since take_largest()

    def take_largest(self):
        """The largest single buffer since the last call (TC_HEAP_INFO), and start counting again."""
        largest, self.largest_buffer = self.largest_buffer, 0
        return largest

    def _note(self, size):
        if size > self.largest_buffer:
            self.largest_buffer = size

    def _read(self, name, offset, view):
        self._note(len(view))
        return self.storage.read_into(name, offset, view)

    # ---- state records ---------------------------------------------------------------------------
    def _check(self, name):
        """(generation, log shift, body length) of the intact record in file `name`, else None.

        The digest is checked in CHUNK-byte reads, so a torn or foreign file costs no memory."""
        view = memoryview(self._buf)
        if self._read(name, 0, view[:_HEAD.size]) < _HEAD.size:
            return None
        magic, generation, log_shift, size = _HEAD.unpack_from(self._buf, 0)
        if magic != _MAGIC:
            return None
        digest = hashlib.sha256(bytes(view[4:_HEAD.size]))
        offset, end = _HEAD.size, _HEAD.size + size
        while offset < end:
            want = end - offset if end - offset < CHUNK else CHUNK
            got = self._read(name, offset, view[:want])
            if got < want:
                return None
            digest.update(view[:want])
            offset += want
        if self._read(name, end, view[:_DIGEST]) < _DIGEST:
            return None
        if digest.digest()[:_DIGEST] != bytes(view[:_DIGEST]):
            return None
        return generation, log_shift, size

    def last_save_landed(self):
        """After a cut save: whether its record is whole on storage all the same (the power
        failed at its last byte), so that the change it saved happened."""
        attempt = self._attempt
        if attempt is None:
            return False
        checked = self._check(SLOTS[attempt[0]])
        return checked is not None and checked[0] == attempt[1]

    def _newest(self):
        """(generation, slot, log shift, body length) of the newest intact record, or None; loads
        that record's place (or the factory's) into self."""
        best = None
        for slot, name in enumerate(SLOTS):
            checked = self._check(name)
            if checked is not None and (best is None or checked[0] > best[0]):
                best = (checked[0], slot, checked[1], checked[2])
        if best is None:
            self.generation, self.slot, self.log_shift, self.saved_log_next = 0, 1, 0, 0
            return None
        self.generation, self.slot, self.log_shift = best[0], best[1], best[2]
        return best

    def load_stream(self):
        """The newest intact state body as a BodyReader (snapshot.decode reads it piece by piece
        through the one buffer), or None (factory state)."""
        best = self._newest()
        if best is None:
            return None
        heap.point()
        return BodyReader(self, SLOTS[best[1]], best[3])

    def load(self):
        """The newest intact state body as one bytearray, or None: for tests and tools (the pump
        itself reads with load_stream, never holding the body whole)."""
        best = self._newest()
        if best is None:
            return None
        self._note(best[3])
        body = bytearray(best[3])
        view = memoryview(body)
        offset = 0
        while offset < len(body):
            step = len(body) - offset if len(body) - offset < CHUNK else CHUNK
            self.storage.read_into(SLOTS[best[1]], _HEAD.size + offset, view[offset:offset + step])
            offset += step
        heap.point()
        return body

    # ---- the journal ------------------------------------------------------------------------------
    def _scan(self, first, last):
        """(index, entry or None when its slot is torn or stale) for first .. last - 1, read in
        CHUNK-byte runs of consecutive slots."""
        buf = self._buf
        view = memoryview(buf)
        index = first
        while index < last:
            slot = (index + self.log_shift) % self.slots
            count = last - index
            if count > _PER_CHUNK:
                count = _PER_CHUNK
            if count > self.slots - slot:  # a run ends at the end of the ring
                count = self.slots - slot
            got = self._read(LOG_FILE, slot * ENTRY_SIZE, view[:count * ENTRY_SIZE])
            for i in range(count):
                offset = i * ENTRY_SIZE
                values = None
                if offset + ENTRY_SIZE <= got and crc16(view[offset:offset + ENTRY_SIZE]) == 0:
                    values = _ENTRY.unpack_from(buf, offset)
                    if values[0] != (index + i) & 0xFFFFFFFF:
                        values = None
                yield index + i, values
            index += count

    def load_log(self, oldest_index, next_index):
        """(oldest_index, entries) of the committed entries still intact, oldest first.

        entries is an iterator (EventLog.restore takes it), read from storage as it goes: the
        intact run is the one that ends at next_index - 1, found in a first pass."""
        self.saved_log_next = next_index
        first = oldest_index if oldest_index > next_index - self.capacity else next_index - self.capacity
        start = first
        for index, values in self._scan(first, next_index):
            if values is None:
                start = index + 1
        return start, self._entries(start, next_index)

    def _entries(self, start, next_index):
        for _index, values in self._scan(start, next_index):
            yield values[1:]

    def _journal(self, log, first, last):
        """The encoded entries first .. last - 1, one CHUNK-byte buffer at a time (refilled)."""
        buf = self._buf
        view = memoryview(buf)
        index = first
        while index < last:
            count = last - index if last - index < _PER_CHUNK else _PER_CHUNK
            for i in range(count):
                offset = i * ENTRY_SIZE
                struct.pack_into(_ENTRY_FORMAT, buf, offset, (index + i) & 0xFFFFFFFF, *log.entry(index + i))
                struct.pack_into(_CRC_FORMAT, buf, offset + _ENTRY.size,
                                 crc16(view[offset:offset + _ENTRY.size]))
            self._note(count * ENTRY_SIZE)
            yield view[:count * ENTRY_SIZE]
            index += count

    def save(self, body, log):
        """Journal the new log entries, then write the state record (may raise PowerCut).

        body: bytes, or a list of parts (snapshot.encode's) written one after the other, never
        joined. Nothing in RAM changes until the record is written, so after a cut the pump
        reloads exactly the committed state (and its log shift)."""
        parts = body if isinstance(body, list) else [body]
        self._attempt = None  # a cut in the journal: the record was not even begun
        saved = self.saved_log_next
        shift = self.log_shift
        first = saved
        if not log.oldest_index <= saved <= log.next_index:
            # The log was reset, or entries were never saved before they left the RAM log:
            # the new run starts elsewhere, so move the shift to keep it after the committed slots.
            first = log.oldest_index
            shift = (shift + saved - first) % self.slots
        while first < log.next_index:
            slot = (first + shift) % self.slots
            last = first + (self.slots - slot)  # a run ends at the end of the ring
            if last > log.next_index:
                last = log.next_index
            self.storage.write_parts(LOG_FILE, slot * ENTRY_SIZE, self._journal(log, first, last))
            first = last
        generation = self.generation + 1
        slot = 1 - self.slot
        self._attempt = (slot, generation)
        size = 0
        for part in parts:
            self._note(len(part))
            size += len(part)
        head = _HEAD.pack(_MAGIC, generation, shift, size)
        self.storage.write_parts(SLOTS[slot], 0, self._record_parts(head, parts))
        self.generation, self.slot, self.log_shift, self.saved_log_next = generation, slot, shift, log.next_index
        heap.point()  # the body's parts are still alive here: the save's fullest moment

    def _record_parts(self, head, parts):
        digest = hashlib.sha256(head[4:])
        for part in parts:
            digest.update(part)
        yield head
        for part in parts:
            view = memoryview(part)
            for offset in range(0, len(part), CHUNK):
                yield view[offset:offset + CHUNK]
        yield digest.digest()[:_DIGEST]


class BodyReader:
    """A stored state body read on demand, a field group at a time, through the persistence's
    CHUNK-byte buffer (the reader snapshot.decode takes). The record's digest was checked before."""

    def __init__(self, persistence, name, size):
        self.persistence = persistence
        self.name = name
        self.size = size
        self.offset = 0

    def _fill(self, size):
        if size > CHUNK or self.offset + size > self.size:
            raise ValueError("snapshot field of %d bytes at %d of %d" % (size, self.offset, self.size))
        view = memoryview(self.persistence._buf)[:size]
        if self.persistence._read(self.name, _HEAD.size + self.offset, view) < size:
            raise ValueError("snapshot truncated")
        self.offset += size
        return view

    def unpack(self, compiled):
        return compiled.unpack_from(self._fill(compiled.size), 0)

    def take(self, size):
        return bytes(self._fill(size))
