"""The pump's event log: a ring buffer of spec.LOG_CAPACITY entries with monotonic indices.

An entry is (clock_s, kind, code, value, value2), all unsigned 32-bit on the wire (larger
numbers are kept modulo 2**32). Entry i lives in slot i % capacity; the oldest entries are
overwritten once the ring is full. The slot list is made once and reused by every reset and
reboot (on a board, a list of LOG_CAPACITY entries is a 2 KB block).
"""

from . import spec

_MASK32 = 0xFFFFFFFF


class EventLog:
    def __init__(self, capacity=spec.LOG_CAPACITY):
        self.capacity = capacity
        self.clear()

    def clear(self):
        slots = getattr(self, "slots", None)
        if slots is None:
            self.slots = [None] * self.capacity  # once, at boot: a reset or reboot reuses it
        else:
            for i in range(self.capacity):
                slots[i] = None
        self.next_index = 0
        self.oldest_index = 0

    def append(self, clock_s, kind, code=0, value=0, value2=0):
        index = self.next_index
        self.slots[index % self.capacity] = (clock_s & _MASK32, kind, code & 0xFF, value & _MASK32,
                                             value2 & _MASK32)
        self.next_index = index + 1
        if self.next_index - self.oldest_index > self.capacity:
            self.oldest_index = self.next_index - self.capacity

    def entry(self, index):
        """(clock_s, kind, code, value, value2) of a held index."""
        return self.slots[index % self.capacity]

    def restore(self, oldest_index, next_index, entries):
        """Load held entries (any iterable, oldest_index .. next_index - 1) after a reboot."""
        self.clear()
        self.oldest_index = oldest_index
        self.next_index = next_index
        for offset, entry in enumerate(entries):
            self.slots[(oldest_index + offset) % self.capacity] = entry

    def page(self, start_index, max_entries):
        """READ_LOG: entries from max(start_index, oldest_index), at most max_entries, as dicts."""
        first = start_index if start_index > self.oldest_index else self.oldest_index
        last = first + max_entries
        if last > self.next_index:
            last = self.next_index
        entries = []
        for index in range(first, last):
            clock_s, kind, code, value, value2 = self.entry(index)
            entries.append({"index": index & _MASK32, "clock_s": clock_s, "kind": kind, "code": code,
                            "value": value, "value2": value2})
        return entries
