"""The exactly-once cache: answers to recent state-changing requests, by sequence number.

A retransmission (same seq, same msg_id, same payload) gets the stored answer again, byte for
byte, and never runs twice. The same seq with a different request is SEQUENCE_REUSED. Requests
are compared by an 8-byte SHA-256 digest of msg_id + payload, which keeps the cache small
enough to persist on every write.
"""

import hashlib

REUSED = "reused"


def request_digest(msg_id, payload):
    return hashlib.sha256(bytes([msg_id]) + payload).digest()[:8]


class ExactlyOnceCache:
    def __init__(self, size):
        self.size = size
        self.clear()

    def clear(self):
        self.answers = {}  # seq -> (msg_id, digest, frame kind, payload)
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
        self.answers[seq] = (msg_id, digest, kind, payload)
        self.order.append(seq)
        while len(self.order) > self.size:
            del self.answers[self.order.pop(0)]

    def entries(self):
        """[(seq, msg_id, digest, kind, payload)], oldest first (for the snapshot)."""
        return [(seq,) + self.answers[seq] for seq in self.order]
