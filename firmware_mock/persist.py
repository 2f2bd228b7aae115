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

from .framing import crc16
from .packing import packer

SLOTS = ("state_a", "state_b")
LOG_FILE = "log"
_MAGIC = b"PMS2"
_HEAD = packer("<4sIII")  # magic, generation, log shift, body length
_DIGEST = 8
_ENTRY = packer("<IIBBII")
_CRC = packer(">H")
ENTRY_SIZE = _ENTRY.size + 2


def _record(generation, body, log_shift=0):
    head = _HEAD.pack(_MAGIC, generation, log_shift, len(body))
    digest = hashlib.sha256(head[4:])
    digest.update(body)
    return b"".join((head, body, digest.digest()[:_DIGEST]))


def _parse(record):
    """(generation, log shift, body) of an intact record, else None."""
    if record is None or len(record) < _HEAD.size + _DIGEST:
        return None
    magic, generation, log_shift, size = _HEAD.unpack_from(record, 0)
    end = _HEAD.size + size
    if magic != _MAGIC or len(record) < end + _DIGEST:
        return None
    body = record[_HEAD.size:end]
    if hashlib.sha256(record[4:end]).digest()[:_DIGEST] != record[end:end + _DIGEST]:
        return None
    return generation, log_shift, body


def encode_entry(index, entry):
    raw = _ENTRY.pack(index & 0xFFFFFFFF, *entry)
    return raw + _CRC.pack(crc16(raw))


class Persistence:
    """Saves and loads through a storage object (see storage.py for the interface)."""

    def __init__(self, storage, log_capacity):
        self.storage = storage
        self.capacity = log_capacity
        self.slots = 2 * log_capacity  # room for a committed window and one save's new entries
        self.generation = 0  # of the newest intact record
        self.slot = 1  # where it is; the next record goes to the other slot
        self.log_shift = 0  # the newest record's: entry i is in journal slot (i + shift) % slots
        self.saved_log_next = 0  # log entries below this index are on storage
        self._attempt = None  # (slot, generation) of the record being written

    def last_save_landed(self):
        """After a cut save: whether its record is whole on storage all the same (the power
        failed at its last byte), so that the change it saved happened."""
        attempt = self._attempt
        if attempt is None:
            return False
        parsed = _parse(self.storage.read(SLOTS[attempt[0]]))
        return parsed is not None and parsed[0] == attempt[1]

    def load(self):
        """The newest intact state body, or None (factory state)."""
        best = None
        for slot, name in enumerate(SLOTS):
            parsed = _parse(self.storage.read(name))
            if parsed is not None and (best is None or parsed[0] > best[0]):
                best = (parsed[0], slot, parsed[1], parsed[2])
        if best is None:
            self.generation, self.slot, self.log_shift, self.saved_log_next = 0, 1, 0, 0
            return None
        self.generation, self.slot, self.log_shift = best[0], best[1], best[2]
        return best[3]

    def load_log(self, oldest_index, next_index):
        """(oldest_index, entries) of the committed entries still intact, oldest first."""
        self.saved_log_next = next_index
        first = oldest_index if oldest_index > next_index - self.capacity else next_index - self.capacity
        data = self.storage.read(LOG_FILE) or b""
        entries = []
        index = next_index - 1
        while index >= first:  # newest first: the intact run ends at next_index - 1
            offset = ((index + self.log_shift) % self.slots) * ENTRY_SIZE
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
        """Journal the new log entries, then write the state record (may raise PowerCut).

        Nothing in RAM changes until the record is written, so after a cut the pump reloads
        exactly the committed state (and its log shift)."""
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
            chunk = b"".join([encode_entry(i, log.entry(i)) for i in range(first, last)])
            self.storage.write(LOG_FILE, slot * ENTRY_SIZE, chunk)
            first = last
        generation = self.generation + 1
        slot = 1 - self.slot
        self._attempt = (slot, generation)
        self.storage.write(SLOTS[slot], 0, _record(generation, body, shift))
        self.generation, self.slot, self.log_shift, self.saved_log_next = generation, slot, shift, log.next_index
