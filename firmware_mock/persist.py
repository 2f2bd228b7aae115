"""Crash-safe saving of the pump's state: A/B state records plus a journal of log entries.

State records go alternately to files "state_a" and "state_b":
    b"PMS1" | generation u32 | body length u32 | body | first 8 bytes of SHA-256(generation .. body)
The newest record that checks out wins, so a write cut at any byte leaves the previous one.

Log entries go to file "log", a ring of LOG_CAPACITY fixed 20-byte slots (entry i in slot
i % capacity): index u32 | clock_s u32 | kind u8 | code u8 | value u32 | value2 u32 | CRC-16 BE.
They are written before the state record that counts them, so a committed record never
points at an entry that is not on storage. An entry not yet committed may already have
overwritten the slot of one of the oldest committed entries; after a power loss those oldest
entries are gone and oldest_index moves up past them.
"""

import hashlib

from .framing import crc16
from .packing import packer

SLOTS = ("state_a", "state_b")
LOG_FILE = "log"
_MAGIC = b"PMS1"
_HEAD = packer("<4sII")
_DIGEST = 8
_ENTRY = packer("<IIBBII")
_CRC = packer(">H")
ENTRY_SIZE = _ENTRY.size + 2


def _record(generation, body):
    head = _HEAD.pack(_MAGIC, generation, len(body))
    digest = hashlib.sha256(head[4:])
    digest.update(body)
    return b"".join((head, body, digest.digest()[:_DIGEST]))


def _parse(record):
    """(generation, body) of an intact record, else None."""
    if record is None or len(record) < _HEAD.size + _DIGEST:
        return None
    magic, generation, size = _HEAD.unpack_from(record, 0)
    end = _HEAD.size + size
    if magic != _MAGIC or len(record) < end + _DIGEST:
        return None
    body = record[_HEAD.size:end]
    if hashlib.sha256(record[4:end]).digest()[:_DIGEST] != record[end:end + _DIGEST]:
        return None
    return generation, body


def encode_entry(index, entry):
    raw = _ENTRY.pack(index & 0xFFFFFFFF, *entry)
    return raw + _CRC.pack(crc16(raw))


class Persistence:
    """Saves and loads through a storage object (see storage.py for the interface)."""

    def __init__(self, storage, log_capacity):
        self.storage = storage
        self.capacity = log_capacity
        self.generation = 0  # of the newest intact record
        self.slot = 1  # where it is; the next record goes to the other slot
        self.saved_log_next = 0  # log entries below this index are on storage

    def load(self):
        """The newest intact state body, or None (factory state)."""
        best = None
        for slot, name in enumerate(SLOTS):
            parsed = _parse(self.storage.read(name))
            if parsed is not None and (best is None or parsed[0] > best[0]):
                best = (parsed[0], slot, parsed[1])
        if best is None:
            self.generation, self.slot, self.saved_log_next = 0, 1, 0
            return None
        self.generation, self.slot = best[0], best[1]
        return best[2]

    def load_log(self, oldest_index, next_index):
        """(oldest_index, entries) of the committed entries still intact, oldest first."""
        self.saved_log_next = next_index
        first = oldest_index if oldest_index > next_index - self.capacity else next_index - self.capacity
        data = self.storage.read(LOG_FILE) or b""
        entries = []
        index = next_index - 1
        while index >= first:  # newest first: the intact run ends at next_index - 1
            offset = (index % self.capacity) * ENTRY_SIZE
            raw = data[offset:offset + ENTRY_SIZE]
            if len(raw) < ENTRY_SIZE or crc16(raw) != 0:
                break
            values = _ENTRY.unpack_from(raw, 0)
            if values[0] != index & 0xFFFFFFFF:
                break
            entries.append(values[1:])
            index -= 1
        entries.reverse()
        return index + 1, entries

    def save(self, body, log):
        """Journal the new log entries, then write the state record (may raise PowerCut)."""
        first = self.saved_log_next
        if first > log.next_index:  # the log was reset
            first = 0
        if first < log.oldest_index:
            first = log.oldest_index
        while first < log.next_index:
            slot = first % self.capacity
            last = first + (self.capacity - slot)  # a run ends at the end of the ring
            if last > log.next_index:
                last = log.next_index
            chunk = b"".join([encode_entry(i, log.entry(i)) for i in range(first, last)])
            self.storage.write(LOG_FILE, slot * ENTRY_SIZE, chunk)
            first = last
        generation = self.generation + 1
        slot = 1 - self.slot
        self.storage.write(SLOTS[slot], 0, _record(generation, body))
        self.generation, self.slot, self.saved_log_next = generation, slot, log.next_index
