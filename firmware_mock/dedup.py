"""The exactly-once cache: answers to recent state-changing requests, by sequence number.

A retransmission (same seq, same msg_id, same payload) gets the stored answer again, byte for
byte, and never runs twice. The same seq with a different request is SEQUENCE_REUSED. Requests
are compared by an 8-byte SHA-256 digest of msg_id + payload, which keeps the cache small
enough to persist on every write.
"""

import hashlib

from .packing import packer

REUSED = "reused"
_RECORD = packer("<HB8sBB")  # seq, msg_id, digest, answer kind, payload length; then the payload


def request_digest(msg_id, payload):
    return hashlib.sha256(bytes([msg_id]) + payload).digest()[:8]


class ExactlyOnceCache:
    def __init__(self, size):
        self.size = size
        self.clear()

    def clear(self):
        self.answers = {}  # seq -> (msg_id, digest, frame kind, payload, record bytes)
        self.order = []  # seqs, oldest first

    def lookup(self, seq, msg_id, digest):
        """The stored (msg_id, digest, kind, payload), None when unknown, or REUSED."""
        answer = self.answers.get(seq)
        if answer is None:
            return None
        if answer[0] == msg_id and answer[1] == digest:
            return answer
        return REUSED

    def store(self, seq, msg_id, digest, kind, payload):
        if seq in self.answers:
            self.order.remove(seq)
        record = _RECORD.pack(seq, msg_id, digest, kind, len(payload)) + payload
        self.answers[seq] = (msg_id, digest, kind, payload, record)
        self.order.append(seq)
        while len(self.order) > self.size:
            del self.answers[self.order.pop(0)]

    def records(self):
        """(count, bytes) of every answer, oldest first, for the snapshot; load() reads them back."""
        answers = self.answers
        return len(self.order), b"".join([answers[seq][4] for seq in self.order])

    def load(self, count, data, offset):
        """Store `count` records from data at offset (as records() wrote them); the new offset."""
        self.clear()
        for _i in range(count):
            seq, msg_id, digest, kind, size = _RECORD.unpack_from(data, offset)
            offset += _RECORD.size
            self.store(seq, msg_id, bytes(digest), kind, bytes(data[offset:offset + size]))
            offset += size
        return offset
