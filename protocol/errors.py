"""The one exception type protocol decoding raises, split by whose fault it is (as h11 does)."""


class ProtocolError(Exception):
    """Bytes or a message that break the pumpmock protocol.

    `reason` is a short machine-readable tag ("crc", "cobs", "oversized", "short", "kind",
    "length", "range", "code", "text", "unknown_message", "type"); the message says the rest.
    """

    def __init__(self, message, reason="invalid", raw=b""):
        super().__init__(message)
        self.reason = reason
        self.raw = bytes(raw)


class RemoteProtocolError(ProtocolError):
    """What came off the line is malformed: the peer (or the line) is at fault."""


class LocalProtocolError(ProtocolError):
    """The caller asked to build something the protocol cannot carry."""
