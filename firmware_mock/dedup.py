"""The exactly-once cache: answers to recent state-changing requests, by host session and sequence number.

A retransmission (same session, same seq, same msg_id, same payload) gets the stored answer
again, byte for byte, and never runs twice. The same seq with a different request is
SEQUENCE_REUSED. Requests are compared by an 8-byte SHA-256 digest of msg_id + payload, which
keeps the cache small enough to persist on every write.

Each answer belongs to the host session (HELLO's host_session_id) that asked. Another session's
HELLO does not drop it: a host whose answer was lost, and who comes back with its own id after
another host talked to the pump, still gets that answer, not a second bolus.
"""

import hashlib

from .packing import packer

REUSED = "reused"
# A record's head (then its payload): has a session, host session id, seq, msg_id, digest, answer
# kind, payload length. The snapshot saves the records as they are and reads them back.
RECORD_HEAD = packer("<BIHB8sBB")
RECORD_HEAD_V2 = packer("<HB8sBB")  # state record version 2: no session (all the saved session's)


def request_digest(msg_id, payload):
    return hashlib.sha256(bytes([msg_id]) + payload).digest()[:8]


class ExactlyOnceCache:
    def __init__(self, size):
        self.size = size
        self.clear()

    def clear(self):
        """Factory state: no answers, no session."""
        self.answers = {}  # (session, seq) -> (msg_id, digest, frame kind, payload, record bytes)
        self.order = []  # keys, oldest first: the oldest answer of any session leaves first
        self.session = None  # the host session now talking (HELLO sets it)

    def lookup(self, seq, msg_id, digest):
        """The stored (msg_id, digest, kind, payload), None when unknown, or REUSED."""
        answer = self.answers.get((self.session, seq))
        if answer is None:
            return None
        if answer[0] == msg_id and answer[1] == digest:
            return answer
        return REUSED

    def store(self, seq, msg_id, digest, kind, payload):
        self.restore(self.session, seq, msg_id, digest, kind, payload)

    def restore(self, session, seq, msg_id, digest, kind, payload):
        """Store an answer of `session` (a saved one read back at boot, or a new one)."""
        key = (session, seq)
        if key in self.answers:
            self.order.remove(key)
        record = RECORD_HEAD.pack(0 if session is None else 1, session or 0, seq, msg_id, digest, kind,
                              len(payload)) + payload
        self.answers[key] = (msg_id, digest, kind, payload, record)
        self.order.append(key)
        while len(self.order) > self.size:
            del self.answers[self.order.pop(0)]
